"""The operator's commands that drive the engine directly: ``base`` and ``demo``.

They read the server's configuration and import the server's settings, the
services and the engine only when they run (``jupyter stardock --help`` lists
them without loading any of that); ``doctor`` is in doctor.py.
"""

from __future__ import annotations

import glob
import importlib.util
import json
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from jupyter_core.paths import jupyter_data_dir
from traitlets import Bool, Unicode

from ..errors import BaseImageError, StarDockError
from .common import StarDockSubcommand, shared_aliases

if TYPE_CHECKING:
    from ..engine import Engine
    from ..server.app import StarDockApp

__all__ = ["DEMO_NEXT_STEP", "BaseCommand", "DemoCommand", "require_jupyterlab"]


class BaseCommand(StarDockSubcommand):
    name = "base"
    description = """Build the base image every StarDock environment starts FROM.

    From an upstream image when a registry is reachable (default debian:bookworm-slim),
    or with --bootstrap from a Debian mirror through debootstrap and `docker import`
    (air-gapped sites). Running it again with the same inputs builds nothing.
    """
    examples = """
    jupyter stardock base
    sudo jupyter stardock base --bootstrap --extra-ca /usr/local/share/ca-certificates/proxy.crt
    """

    bootstrap = Bool(
        False,
        config=True,
        help="Make the root filesystem with debootstrap instead of pulling an upstream image.",
    )
    rebuild = Bool(False, config=True, help="Build again even when an identical base image exists.")

    aliases = {
        **shared_aliases,
        "extra-ca": "StarDockApp.extra_ca_certs",
        "mirror": "StarDockApp.bootstrap_mirror",
        "suite": "StarDockApp.bootstrap_suite",
        "upstream": "StarDockApp.base_upstream",
        "repository": "StarDockApp.base_repository",
    }
    flags = {
        "bootstrap": ({"BaseCommand": {"bootstrap": True}}, bootstrap.help),
        "rebuild": ({"BaseCommand": {"rebuild": True}}, rebuild.help),
    }

    def run(self) -> None:
        from ..services.base_image import BaseImageRequest, ensure_base_image, push_base_image
        from ..services.registry import registry_service

        settings = self.settings()
        engine = settings.make_engine()
        try:
            engine.info_sync()  # fail fast, with the engine's sentence
            result = ensure_base_image(
                engine,
                BaseImageRequest(
                    repository=settings.base_repository,
                    upstream=settings.base_upstream,
                    bootstrap=self.bootstrap,
                    suite=settings.bootstrap_suite,
                    mirror=settings.bootstrap_mirror,
                    extra_ca=tuple(Path(p) for p in settings.extra_ca_certs),
                    rebuild=self.rebuild,
                ),
                log=lambda line: print(line, flush=True),
            )
            # issue 16: pushed to the site's registry, for every node to build on
            registry = registry_service(engine, settings.registry, settings.registry_credentials)
            if registry is not None:
                push_base_image(registry, result, log=lambda line: print(line, flush=True))
        finally:
            engine.close()


DEMO_NEXT_STEP = (
    "Next: open the address JupyterLab prints below in a browser, then the StarDock tab "
    "in the left sidebar: pick the dataset m51, tick apps, press Build."
)


def require_jupyterlab() -> None:
    """The demo runs this interpreter's JupyterLab; say how to get it when it is missing."""
    if importlib.util.find_spec("jupyterlab") is None:
        raise StarDockError(
            f"JupyterLab is not installed for {sys.executable}, and the demo runs the "
            f"JupyterLab of this Python. Install it with `{sys.executable} -m pip install "
            "jupyterlab` (or reinstall jupyter-stardock, which depends on it), then run "
            "`jupyter stardock demo` again."
        )


class DemoCommand(StarDockSubcommand):
    name = "demo"
    description = """Start JupyterLab with StarDock ready on a small generated sample dataset.

    Makes the sample dataset (synthetic FITS images of M51), makes sure the base
    image exists (bootstrapping it from the host's Debian mirror when no registry
    answers), and starts the JupyterLab of this Python (`python -m jupyterlab`).
    Options after `--` go to JupyterLab.
    """
    examples = """
    jupyter stardock demo
    jupyter stardock demo --workdir ~/stardock-demo -- --no-browser --port 8890
    """

    workdir = Unicode(
        "~/stardock-demo",
        config=True,
        help="Folder JupyterLab serves; kernels' outputs folders appear below it.",
    )
    aliases = {
        **shared_aliases,
        "workdir": "DemoCommand.workdir",
        "extra-ca": "StarDockApp.extra_ca_certs",
    }

    def run(self) -> None:
        from ..core.sample import make_sample_dataset

        require_jupyterlab()  # before any slow step: the last one needs it
        settings = self.settings()
        engine = settings.make_engine()
        try:
            engine.info_sync()
            dataset = make_sample_dataset(
                Path(jupyter_data_dir()) / "stardock" / "sample-data" / "m51"
            )
            print(f"Sample dataset: {dataset}")
            if engine.image_sync(settings.base_alias) is None:
                self._make_base(settings, engine)
        finally:
            engine.close()

        workdir = Path(self.workdir).expanduser()
        workdir.mkdir(parents=True, exist_ok=True)
        config_dir = Path(jupyter_data_dir()) / "stardock" / "demo"
        config_dir.mkdir(parents=True, exist_ok=True)
        config_file = config_dir / "jupyter_server_config.json"
        demo_config = {
            "StarDockApp": {
                "datasets": {
                    **settings.datasets,
                    "m51": {
                        "path": str(dataset),
                        "title": "Messier 51 (synthetic sample)",
                        "description": "Three bands and a flat field, generated by jupyter-stardock.",
                    },
                }
            }
        }
        config_file.write_text(json.dumps(demo_config, indent=2))
        # This interpreter's JupyterLab, never the first `jupyter-lab` on PATH: that one
        # may belong to another Python, with another (or no) jupyter-stardock.
        argv = [
            sys.executable,
            "-m",
            "jupyterlab",
            f"--config={config_file}",
            f"--ServerApp.root_dir={workdir}",
        ]
        if os.geteuid() == 0:
            # Containers and test machines run as root; the kernels still never do.
            argv.append("--allow-root")
        argv += self.extra_args
        print("Starting: " + " ".join(argv), flush=True)
        print(DEMO_NEXT_STEP, flush=True)
        os.execv(argv[0], argv)

    def _make_base(self, settings: StarDockApp, engine: Engine) -> None:
        from ..services.base_image import BaseImageRequest, ensure_base_image

        certs = settings.extra_ca_certs or sorted(
            glob.glob("/usr/local/share/ca-certificates/*.crt")
        )
        request = BaseImageRequest(
            repository=settings.base_repository,
            upstream=settings.base_upstream,
            extra_ca=tuple(Path(p) for p in certs),
            mirror=settings.bootstrap_mirror,
            suite=settings.bootstrap_suite,
        )
        try:
            ensure_base_image(engine, request, log=lambda line: print(line, flush=True))
        except BaseImageError as err:
            if os.geteuid() != 0:
                raise
            print(f"{err}\nNo registry: bootstrapping the base image from a Debian mirror instead.")
            ensure_base_image(
                engine, replace(request, bootstrap=True), log=lambda line: print(line, flush=True)
            )
