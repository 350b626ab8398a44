"""The package's layers, read from the imports themselves (as test_openapi.py reads the routes).

Imports run one way: the command line and the magics use the client; the server
uses the services and the kernels, which use the core and the engine; the core
and the engine use only the root modules (errors, labels, paths, config). Lazy
imports inside functions count: they are cycles all the same, only later.
"""

from __future__ import annotations

import ast
from pathlib import Path

import jupyter_stardock

PACKAGE = Path(jupyter_stardock.__file__).parent
ROOT = {"errors", "labels", "paths", "config", "config_services", "_version"}

# What each layer may import from the package, besides itself.
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "labels": set(),
    "paths": set(),
    "_version": set(),
    "config": {"config_services"},
    "config_services": set(),
    "core": ROOT,
    "engine": ROOT,
    "services": ROOT | {"core", "engine"},
    "hub": ROOT,
    "kernels": ROOT | {"core", "engine", "services", "hub"},
    "server": ROOT | {"core", "engine", "services", "hub", "kernels"},
    "client": ROOT,
    "magics": ROOT | {"client"},
    # The operator commands (base, doctor, demo, service) drive the engine and the
    # server; the user commands' modules import only the client (test_cli_start.py).
    "cli": ROOT | {"client", "core", "engine", "services", "server", "hub"},
}

# Third-party packages only one layer may import.
OWNERS = {"docker": {"engine"}, "tornado": {"server", "hub", "kernels"}}


def _layer(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return parts[0]


def _module_parts(path: Path) -> list[str]:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    return parts[:-1] if parts[-1] == "__init__" else parts


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, first component under jupyter_stardock, or 'third:<name>') of every import."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = _module_parts(path)
    if path.name != "__init__.py":
        package = package[:-1]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)] if node.level > 1 else package
                target = [*base, *(node.module.split(".") if node.module else [])]
                if not target:  # from . import x, at the top
                    target = [alias.name for alias in node.names][:1]
                found.append((node.lineno, target[0]))
            elif node.module and node.module.startswith("jupyter_stardock"):
                rest = node.module.split(".")[1:] or [a.name for a in node.names][:1]
                found.append((node.lineno, rest[0]))
            elif node.module:
                found.append((node.lineno, "third:" + node.module.split(".")[0]))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("jupyter_stardock."):
                    found.append((node.lineno, alias.name.split(".")[1]))
                else:
                    found.append((node.lineno, "third:" + alias.name.split(".")[0]))
    return found


def _modules() -> list[Path]:
    return [p for p in sorted(PACKAGE.rglob("*.py")) if p.parent != PACKAGE or p.stem in ALLOWED]


def test_every_module_is_in_a_layer() -> None:
    loose = sorted(
        p.name
        for p in PACKAGE.glob("*.py")
        if p.stem not in ALLOWED and p.stem not in ("__init__", "__main__")
    )
    assert loose == [], f"put these in a layer: {loose}"
    assert {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()} == {
        name for name in ALLOWED if (PACKAGE / name).is_dir()
    }


def test_imports_run_one_way() -> None:
    wrong = []
    for path in _modules():
        layer = _layer(path)
        for line, target in _imports(path):
            if target.startswith("third:") or target == layer:
                continue
            if target not in ALLOWED[layer]:
                wrong.append(f"{path.relative_to(PACKAGE)}:{line} imports {target}")
    assert wrong == []


def test_third_party_owners() -> None:
    wrong = []
    for path in _modules():
        layer = _layer(path)
        for line, target in _imports(path):
            name = target.removeprefix("third:")
            if target.startswith("third:") and name in OWNERS and layer not in OWNERS[name]:
                wrong.append(f"{path.relative_to(PACKAGE)}:{line} imports {name}")
    assert wrong == []


def test_exceptions_are_defined_in_errors_only() -> None:
    """One exception tree: a class deriving from an exception lives in errors.py (private
    control-flow exceptions, named with a leading underscore, excepted)."""
    defined = []
    for path in _modules():
        if path.name == "errors.py" and path.parent == PACKAGE:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                bases = {ast.unparse(b) for b in node.bases}
                if any(b.endswith(("Error", "Exception", "Failed", "Found")) for b in bases) or (
                    node.name.endswith(("Error", "Exception"))
                ):
                    defined.append(f"{path.relative_to(PACKAGE)}: {node.name}")
    # The one exception: jupyter_server shows a kernel start's failure only when it is a
    # tornado HTTPError, and errors.py imports nothing (the CLI loads it on every call).
    assert defined == ["kernels/provisioner.py: KernelStartHTTPError"]
