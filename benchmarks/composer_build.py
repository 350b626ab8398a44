"""Image composer: a rebuild after changing only the last command, against a cold build.

The recipe installs the two catalog apps with the smallest Debian package sets
(SWarp and SExtractor, one package each) and runs two commands of its own, the
first carrying a per-run marker. The baseline is a cold build of it
(``nocache``, so the app layers are built afresh too). Then only the last
command is changed, several times, and rebuilt with the cache: every earlier
layer must come from the cache. Last, the identical recipe is submitted to the
build service, which must answer with the existing image without the builder.

    python benchmarks/composer_build.py [--quick]

Goals: rebuild / cold <= 0.2 with every earlier layer from the cache; the
identical recipe resolves in <= 200 ms (median) with no engine build.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from _common import (
    BASE_IMAGE,
    REPOSITORY,
    LayerTracker,
    Made,
    arguments,
    cleaned_up,
    marker,
    median,
    percentile,
    report,
    verdict,
)

from jupyter_stardock.core.catalog import Catalog, default_catalog_dirs
from jupyter_stardock.core.recipe import BuildSpec, Recipe, compose
from jupyter_stardock.engine import Engine
from jupyter_stardock.services.builds import BuildManager

APPS = ("sextractor", "swarp")
REBUILD_GOAL = 0.2
IDENTICAL_GOAL_MS = 200.0


@dataclass
class Build:
    seconds: float
    image_id: str
    #: Per step, in order: (instruction text, taken from the cache).
    steps: list[tuple[str, bool]] = field(default_factory=list)


async def build(engine: Engine, spec: BuildSpec, made: Made, *, nocache: bool) -> Build:
    steps: list[tuple[str, bool]] = []
    layers = LayerTracker(created=made.layers)

    def on_line(line: str) -> None:
        layers.feed(line)
        if line.startswith("Step "):
            steps.append((line.split(" : ", 1)[-1], False))
        elif line.strip() == "---> Using cache" and steps:
            steps[-1] = (steps[-1][0], True)

    start = time.perf_counter()
    result = await engine.build(
        spec.dockerfile, spec.context, labels=spec.labels, nocache=nocache, on_line=on_line
    )
    seconds = time.perf_counter() - start
    made.refs.append(result.image_id)
    return Build(seconds, result.image_id, steps)


def reused_all_earlier(steps: list[tuple[str, bool]], changed: str) -> bool:
    """Every step before the changed command cached (FROM excepted), and that one not."""
    at = next((i for i, (text, _) in enumerate(steps) if changed in text), None)
    if at is None:
        return False
    earlier = [cached for text, cached in steps[:at] if not text.startswith("FROM ")]
    return all(earlier) and not steps[at][1]


async def bench(engine: Engine, quick: bool, made: Made) -> None:
    colds, rebuilds, identicals = (1, 3, 20) if quick else (2, 5, 50)
    catalog = Catalog.load(default_catalog_dirs())
    base = engine.image_sync(BASE_IMAGE)
    assert base is not None
    word = marker()

    def spec(last: int) -> BuildSpec:
        recipe = Recipe(apps=APPS, commands=(f"echo {word}", f"echo {word}-last-{last}"))
        return compose(recipe, catalog, base.id, repository=REPOSITORY)

    cold = [await build(engine, spec(0), made, nocache=True) for _ in range(colds)]
    print(f"cold builds: {', '.join(f'{b.seconds:.1f} s' for b in cold)}", flush=True)

    warm: list[Build] = []
    cache_ok = True
    for last in range(1, rebuilds + 1):
        changed = spec(last)
        warm.append(await build(engine, changed, made, nocache=False))
        cache_ok &= reused_all_earlier(warm[-1].steps, f"{word}-last-{last}")
    print(f"rebuilds: {', '.join(f'{b.seconds:.1f} s' for b in warm)}", flush=True)

    # The build service finds the last rebuild by its tag, as if it had built it.
    final = spec(rebuilds)
    await engine.tag(warm[-1].image_id, final.tag)
    made.refs.append(final.tag)
    state = Path(tempfile.mkdtemp(prefix="stardock-bench-"))
    try:
        manager = BuildManager(
            engine,
            catalog=lambda: catalog,
            base_ref=BASE_IMAGE,
            state_dir=state,
            repository=REPOSITORY,
        )
        recipe = final.recipe
        await manager.submit(await manager.compose(recipe), "bench")  # warms the query threads
        times_ms: list[float] = []
        found_ok = True
        for _ in range(identicals):
            start = time.perf_counter()
            record, image = await manager.submit(await manager.compose(recipe), "bench")
            times_ms.append((time.perf_counter() - start) * 1000)
            found_ok &= record is None and image is not None and image.id == warm[-1].image_id
        found_ok &= manager.engine_builds == 0
    finally:
        shutil.rmtree(state, ignore_errors=True)

    cold_s = median(b.seconds for b in cold)
    rebuild_s = median(b.seconds for b in warm)
    ratio = rebuild_s / cold_s
    identical_ms = median(times_ms)
    met = ratio <= REBUILD_GOAL and cache_ok and identical_ms <= IDENTICAL_GOAL_MS and found_ok
    report(
        f"Image composer: apps {' + '.join(APPS)}, two commands ({'quick' if quick else 'full'})",
        [
            ("cold build (nocache), median", f"{cold_s:.1f} s  (n={colds})"),
            ("rebuild, last command changed", f"{rebuild_s:.1f} s  (n={rebuilds})"),
            ("rebuild / cold", f"{ratio:.3f}  (goal <= {REBUILD_GOAL})"),
            ("earlier layers all from cache", "yes" if cache_ok else "NO"),
            (
                "identical recipe, median / p99",
                f"{identical_ms:.1f} ms / {percentile(times_ms, 99):.1f} ms  (n={identicals},"
                f" goal <= {IDENTICAL_GOAL_MS:.0f} ms)",
            ),
            ("identical: no builder, same image", "yes" if found_ok else "NO"),
            ("identical / cold", f"{identical_ms / 1000 / cold_s:.5f}"),
            ("verdict", verdict(met)),
        ],
        {
            "benchmark": "composer_build",
            "quick": quick,
            "apps": list(APPS),
            "cold_s": round(cold_s, 2),
            "rebuild_s": round(rebuild_s, 2),
            "rebuild_over_cold": round(ratio, 4),
            "cache_reused": cache_ok,
            "identical_ms_p50": round(identical_ms, 2),
            "identical_ms_p99": round(percentile(times_ms, 99), 2),
            "identical_without_builder": found_ok,
            "goal_met": met,
        },
    )


def main() -> None:
    args = arguments(
        __doc__.splitlines()[0],
        "1 cold build, 3 rebuilds, 20 lookups (default: 2, 5, 50; about a minute on 2 cores)",
    ).parse_args()
    with cleaned_up() as (engine, made):
        asyncio.run(bench(engine, args.quick, made))


if __name__ == "__main__":
    main()
