"""A recipe (apps, packages, commands) and its one Dockerfile.

Composition is plain data rendered once, like repo2docker's buildpacks: the
base header, the apps in canonical order (so equal choices give equal text,
and choices with a common start share image layers), the extra Debian
packages, the pip constraints that hold what apt installed, the extra pip
packages, the user's own commands last (they change most often), then a
footer that hands the image back to the unprivileged user. Every user command
is rendered as ``RUN ["/bin/sh", "-c", "<command>"]``: JSON the parser cannot
reinterpret. The rendered text is then parsed again with :mod:`.dockerfile`
and must hold exactly the instructions that were meant, or nothing is returned.

The image is named by a hash of everything the build reads (Dockerfile text,
context files, base image id), so an identical recipe finds its image again
without a build. The dataset is not part of the image.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import RecipeError, StarDockError
from ..labels import EnvironmentLabels
from .catalog import App, Catalog
from .content_hash import hash_parts
from .dockerfile import DockerfileSyntaxError, Instruction, parse
from .lock import pins_from_json
from .policy import normalize_commands, validate_apt_packages, validate_pip_packages

__all__ = [
    "PIP_CONSTRAINTS",
    "BuildSpec",
    "Recipe",
    "compose",
]

# Bump when the rendering changes in a way that the Dockerfile text alone would
# not show, so old images are not taken for new ones.
_HASH_FORMAT = b"jupyter-stardock build input 1"
_TAG_DIGITS = 16

# A Docker image reference or id: no spaces, nothing the FROM line could split on.
_IMAGE_REF = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:@+-]*")
_REPOSITORY = re.compile(
    r"[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*"
)

#: The constraints file an environment's pip reads (PIP_CONSTRAINT), and the
#: base image's script that writes it from the distributions the image holds.
PIP_CONSTRAINTS = "/opt/stardock/pip-constraints.txt"
_PIP_CONSTRAINTS_SCRIPT = "/opt/stardock/pip-constraints.py"

_USER = "stardock"
_HOME = "/home/stardock"
_SHELL = ("/bin/sh", "-c")
# Docker joins continued lines; each " \" + newline + 4-space indent becomes 5 spaces.
_CONTINUED = " \\\n    "
_JOINED = "     "


# --- the recipe ------------------------------------------------------------------

_RECIPE_FIELDS: tuple[str, ...] = (
    "dataset",
    "apps",
    "commands",
    "apt_packages",
    "pip_packages",
    "pip_constraints",
    "pins",  # issue 17
)
# issue 18: the per-environment GPU opt-in.
_RECIPE_FIELDS += ("gpus",)


def _strings(obj: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = obj.get(key, [])
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RecipeError(f"The recipe field {key!r} must be a list of text entries.", item=key)
    return tuple(value)


@dataclass(frozen=True)
class Recipe:
    """What a user asked for, as given; :func:`compose` applies the policy."""

    dataset: str | None = None
    apps: tuple[str, ...] = ()
    commands: tuple[str, ...] = ()
    apt_packages: tuple[str, ...] = ()
    pip_packages: tuple[str, ...] = ()
    #: Hold pip to the versions apt installed (and the kernel runtime's); off lets
    #: a command replace them, at the risk of breaking Debian's packages.
    pip_constraints: bool = True
    # issue 18: the environment's kernels get the operator's GPUs (c.StarDockProvisioner.gpus).
    gpus: bool = False
    # issue 17: exact versions to install (a rebuild from a lock), as sorted (name, version) pairs.
    apt_pins: tuple[tuple[str, str], ...] = ()
    pip_pins: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Recipe:
        """Read a recipe from decoded JSON; every field is optional."""
        if not isinstance(obj, Mapping):
            raise RecipeError("A recipe must be a JSON object.", item="recipe")
        unknown = sorted(str(k) for k in obj if k not in _RECIPE_FIELDS)
        if unknown:
            raise RecipeError(
                f"The recipe has unknown field(s) {', '.join(map(repr, unknown))};"
                f" the fields are {', '.join(_RECIPE_FIELDS)}.",
                item=unknown[0],
            )
        dataset = obj.get("dataset")
        if dataset is not None and not isinstance(dataset, str):
            raise RecipeError("The recipe field 'dataset' must be a dataset id.", item="dataset")
        constraints = obj.get("pip_constraints", True)
        if constraints is None:
            constraints = True
        if not isinstance(constraints, bool):
            raise RecipeError(
                "The recipe field 'pip_constraints' must be true or false.", item="pip_constraints"
            )
        # issue 18: the GPU opt-in is true or false, nothing else.
        gpus = obj.get("gpus", False)
        if not isinstance(gpus, bool) and gpus is not None:
            raise RecipeError("The recipe field 'gpus' must be true or false.", item="gpus")
        return cls(
            gpus=bool(gpus),
            dataset=dataset or None,
            apps=_strings(obj, "apps"),
            commands=_strings(obj, "commands"),
            apt_packages=_strings(obj, "apt_packages"),
            pip_packages=_strings(obj, "pip_packages"),
            pip_constraints=constraints,
            **pins_from_json(obj.get("pins")),  # issue 17
        )

    def to_json(self) -> dict[str, Any]:
        obj: dict[str, Any] = {
            "dataset": self.dataset,
            "apps": list(self.apps),
            "commands": list(self.commands),
            "apt_packages": list(self.apt_packages),
            "pip_packages": list(self.pip_packages),
        }
        # Written only when off: the default recipe, and so its label, stays as it was.
        if not self.pip_constraints:
            obj["pip_constraints"] = False
        if self.gpus:  # issue 18: likewise written only when on
            obj["gpus"] = True
        if self.apt_pins or self.pip_pins:  # issue 17: only when pinned, as above
            obj["pins"] = {"apt": dict(self.apt_pins), "pip": dict(self.pip_pins)}
        return obj


@dataclass(frozen=True)
class BuildSpec:
    """Everything an engine needs to build (or find) the image of a recipe.

    ``context`` holds the build context files other than the Dockerfile.
    ``recipe`` is the normalized image part of the recipe plus its dataset.
    """

    dockerfile: str
    context: dict[str, bytes]
    content_hash: str
    tag: str
    labels: dict[str, str]
    recipe: Recipe
    apps: tuple[str, ...]


# --- rendering -------------------------------------------------------------------


@dataclass(frozen=True)
class _Step:
    text: str  # as written in the Dockerfile, possibly several lines
    expected: Instruction  # what Docker's parser must read back


@dataclass(frozen=True)
class _Section:
    heading: str | None
    steps: tuple[_Step, ...]
    note: str | None = None


def _plain(keyword: str, word: str) -> _Step:
    """An instruction of one word (FROM, USER, WORKDIR), which Docker reads as it is."""
    return _Step(f"{keyword} {word}", Instruction(keyword, (word,)))


def _env(variables: Sequence[tuple[str, str]]) -> _Step:
    """ENV of one-word values; Docker's parser reads each as its name and its value."""
    text = " ".join(f"{name}={value}" for name, value in variables)
    return _Step(f"ENV {text}", Instruction("ENV", tuple(p for pair in variables for p in pair)))


def _shell(*segments: str) -> _Step:
    """A shell-form RUN of trusted text (no user input but validated names)."""
    return _Step("RUN " + _CONTINUED.join(segments), Instruction("RUN", (_JOINED.join(segments),)))


def _exec(command: str) -> _Step:
    """A RUN whose command is opaque to the Dockerfile parser."""
    argv = [*_SHELL, command]
    # ensure_ascii=False keeps non-ASCII text readable; the policy has refused
    # every character that could end or bend a line.
    return _Step(
        f"RUN {json.dumps(argv, ensure_ascii=False)}", Instruction("RUN", tuple(argv), json=True)
    )


def _apt_install(packages: Sequence[str]) -> _Step:
    return _shell(
        "apt-get update",
        "&& apt-get install -y --no-install-recommends",
        *(f"    {shlex.quote(p)}" for p in packages),
        "&& rm -rf /var/lib/apt/lists/*",
    )


def _app_section(app: App) -> _Section:
    steps = []
    if app.env:
        steps.append(_env(app.env))
    if app.apt:
        steps.append(_apt_install(app.apt))
    steps += [_exec(step) for step in app.run]
    return _Section(f"App: {app.title} ({app.id})", tuple(steps), note=app.description)


def _render(sections: Sequence[_Section]) -> tuple[str, list[Instruction]]:
    parts = [
        "# A jupyter-stardock environment, generated from a recipe. Change the recipe,",
        "# not this file: an identical recipe always gives this identical text.",
    ]
    expected: list[Instruction] = []
    for section in sections:
        if section.heading:
            parts += ["", f"# --- {section.heading} ---"]
        if section.note:
            parts.append(f"# {section.note}")
        for step in section.steps:
            parts.append(step.text)
            expected.append(step.expected)
    return "\n".join(parts) + "\n", expected


def _verify(text: str, expected: Sequence[Instruction]) -> None:
    """Parse ``text`` as Docker would; it must hold exactly ``expected``."""
    try:
        parsed = parse(text)
    except DockerfileSyntaxError as err:
        raise StarDockError(
            f"Internal error: the generated Dockerfile does not parse ({err}). Nothing was"
            " built; please report this with the recipe."
        ) from err
    problem = None
    if parsed.directives:
        problem = f"it starts with parser directives {sorted(parsed.directives)}"
    elif list(parsed.instructions) != list(expected):
        got, want = list(parsed.instructions), list(expected)
        at = next((i for i, (g, w) in enumerate(zip(got, want, strict=False)) if g != w), None)
        if at is None:
            problem = f"it holds {len(got)} instructions instead of {len(want)}"
        else:
            problem = f"instruction {at + 1} reads back as {got[at]!r} instead of {want[at]!r}"
    if problem:
        raise StarDockError(
            f"Internal error: the generated Dockerfile is not what was meant: {problem}."
            " Nothing was built; please report this with the recipe."
        )


def _content_hash(dockerfile: str, context: Mapping[str, bytes], base_image_id: str) -> str:
    names = sorted(context)
    return hash_parts(
        _HASH_FORMAT,
        base_image_id.encode(),
        dockerfile.encode(),
        *(part for name in names for part in (name.encode(), context[name])),
    )


def compose(
    recipe: Recipe,
    catalog: Catalog,
    base_image_id: str,
    *,
    base_ref: str | None = None,
    repository: str = "stardock/env",
) -> BuildSpec:
    """Turn ``recipe`` into a checked Dockerfile, its content hash, tag and labels.

    ``base_image_id`` is the id of the base image and always enters the hash;
    ``base_ref`` is what the FROM line names (the id itself when not given).
    Raises :class:`RecipeError` (or its :class:`CatalogError` / :class:`PolicyError`)
    naming the offending item; never returns a partial Dockerfile.
    """
    for name, value, pattern in (
        ("base image id", base_image_id, _IMAGE_REF),
        ("base image reference", base_ref or base_image_id, _IMAGE_REF),
        ("repository", repository, _REPOSITORY),
    ):
        if not isinstance(value, str) or not pattern.fullmatch(value):
            raise ValueError(f"The {name} {value!r} is not a valid Docker name.")

    chosen = tuple(sorted(set(recipe.apps)))
    apps = catalog.resolve(chosen)
    commands = normalize_commands(recipe.commands)
    apt_packages = tuple(sorted(set(validate_apt_packages(recipe.apt_packages))))
    pip_packages = tuple(sorted(set(validate_pip_packages(recipe.pip_packages))))

    sections = [_Section(None, (_plain("FROM", base_ref or base_image_id), _plain("USER", "root")))]
    context: dict[str, bytes] = {}
    if recipe.apt_pins:  # issue 17: first, so every later apt-get keeps the pinned versions
        sections.append(apt_pins_section(recipe.apt_pins, context))
    sections += [_app_section(app) for app in apps]
    if apt_packages:
        sections.append(_Section("Extra Debian packages", (_apt_install(apt_packages),)))
    if recipe.pip_constraints:
        sections.append(
            _Section(
                "Hold the versions apt installed",
                (
                    _shell(f'"$STARDOCK_PYTHON" {_PIP_CONSTRAINTS_SCRIPT} {PIP_CONSTRAINTS}'),
                    _env([("PIP_CONSTRAINT", PIP_CONSTRAINTS)]),
                ),
                note=(
                    "pip keeps Debian's Python packages and the kernel runtime at these versions,"
                    ' or fails naming the conflict; "pip_constraints": false in the recipe lifts it.'
                ),
            )
        )
    if recipe.pip_pins:  # issue 17: before the extra packages and commands, which they satisfy
        sections.append(pip_pins_section(recipe.pip_pins, context))
    if pip_packages:
        pip = '"$STARDOCK_PYTHON" -m pip install --no-cache-dir'
        sections.append(
            _Section(
                "Extra pip packages",
                (_shell(pip, *(f"    {shlex.quote(p)}" for p in pip_packages)),),
                note="Installed into the kernel's Python.",
            )
        )
    if commands:
        sections.append(_Section("Your commands", tuple(_exec(c) for c in commands)))
    # issue 18: a GPU environment is an image of its own (another hash), and tells
    # NVIDIA's hook which driver libraries its kernels need.
    if recipe.gpus:
        sections.append(
            _Section(
                "GPUs",
                (_env([("NVIDIA_DRIVER_CAPABILITIES", "compute,utility")]),),
                note="Kernels get the GPUs the operator set (c.StarDockProvisioner.gpus).",
            )
        )
    sections.append(
        _Section(
            "Finish: the kernel runs as the unprivileged user",
            (
                # Root-run steps may have left files in the home folder. The kernel's
                # venv stays root-owned and world-readable: a kernel may run as
                # another uid, and the environment is the recipe, not later installs.
                _shell(f"chown -R {_USER}:{_USER} {_HOME}"),
                _plain("USER", _USER),
                _plain("WORKDIR", _HOME),
            ),
        )
    )
    dockerfile, expected = _render(sections)
    _verify(dockerfile, expected)

    content_hash = _content_hash(dockerfile, context, base_image_id)
    normalized = Recipe(
        dataset=recipe.dataset,
        apps=chosen,
        commands=commands,
        apt_packages=apt_packages,
        pip_packages=pip_packages,
        pip_constraints=recipe.pip_constraints,
        gpus=recipe.gpus,  # issue 18
        apt_pins=recipe.apt_pins,
        pip_pins=recipe.pip_pins,
    )
    image_part = {k: v for k, v in normalized.to_json().items() if k != "dataset"}
    app_ids = tuple(app.id for app in apps)
    return BuildSpec(
        dockerfile=dockerfile,
        context=context,
        content_hash=content_hash,
        tag=f"{repository}:{content_hash[:_TAG_DIGITS]}",
        labels=EnvironmentLabels(
            recipe=image_part,
            content_hash=content_hash,
            apps=app_ids,
            base_image=base_image_id,
        ).to_labels(),
        recipe=normalized,
        apps=app_ids,
    )


# --- issue 17: pins from a lock ------------------------------------------------------


def _copy(name: str, target: str, text: str, context: dict[str, bytes]) -> _Step:
    """COPY of a file the composer wrote into the build context (so the hash covers it)."""
    context[name] = text.encode()
    return _Step(f"COPY {name} {target}", Instruction("COPY", (name, target)))


def apt_pins_section(pins: Sequence[tuple[str, str]], context: dict[str, bytes]) -> _Section:
    # apt preferences at 1001 hold every later install (dependencies too) to the pins;
    # installing them all at once fails naming any version the mirror no longer has.
    prefs = "\n".join(f"Package: {n}\nPin: version {v}\nPin-Priority: 1001\n" for n, v in pins)
    return _Section(
        "Pinned Debian versions (a rebuild from a lock)",
        (
            _copy("stardock-apt-pins", "/etc/apt/preferences.d/stardock-lock", prefs, context),
            _shell(
                "apt-get update",
                "&& apt-get install -y --no-install-recommends --allow-downgrades",
                *(f"    {shlex.quote(f'{n}={v}')}" for n, v in pins),
                "&& rm -rf /var/lib/apt/lists/*",
            ),
        ),
    )


def pip_pins_section(pins: Sequence[tuple[str, str]], context: dict[str, bytes]) -> _Section:
    target = "/opt/stardock/lock-requirements.txt"
    text = "".join(f"{n}=={v}\n" for n, v in pins)
    return _Section(
        "Pinned Python versions (a rebuild from a lock)",
        (
            _copy("stardock-pip-pins", target, text, context),
            _shell(f'"$STARDOCK_PYTHON" -m pip install --no-cache-dir --no-deps -r {target}'),
        ),
    )
