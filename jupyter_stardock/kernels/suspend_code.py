"""The code a suspend and a restore run inside the kernel (issue 17).

Pickles are made and loaded only in the kernel's own container: a kernel's
pickle is untrusted, so the server moves its bytes but never unpickles them.
The kernel runtime's dill (images/base/kernel-runtime.txt) pickles what plain
pickle cannot (functions, lambdas and classes defined in the notebook).

Each is one function defined, called and deleted in a single execute, so the
user's namespace keeps nothing of it.
"""

from __future__ import annotations

import json

__all__ = ["FOLDER", "MANIFEST", "RESTORE_FOLDER", "VARIABLES", "dump_code", "load_code"]

#: Below the kernel's outputs folder: what a suspend wrote, and where a restore reads it.
FOLDER = ".stardock-suspend"
RESTORE_FOLDER = ".stardock-restore"
MANIFEST = "manifest.json"
VARIABLES = "variables.pkl"

_DUMP = r"""
def __stardock_suspend(folder):
    import io, json, os, socket, types
    import dill
    ip = get_ipython()
    hidden = set(ip.user_ns_hidden)
    saved, skipped, modules = {}, {}, {}
    for name, value in list(ip.user_ns.items()):
        if name.startswith('_') or name in hidden or name in ('In', 'Out', 'exit', 'quit'):
            continue
        if isinstance(value, types.ModuleType):
            modules[name] = value.__name__  # imported again at restore
            continue
        if isinstance(value, (io.IOBase, socket.socket)):
            # dill would reopen a file by its name, at another position, maybe another file.
            skipped[name] = (f'an open {type(value).__name__} ({getattr(value, "name", "")!r}): '
                             'open it again after the restore')
            continue
        try:
            saved[name] = dill.dumps(value, recurse=True)
        except Exception as err:
            skipped[name] = f'{type(value).__name__} cannot be saved ({type(err).__name__}: {err})'[:300]
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, 'variables.pkl.tmp'), 'wb') as f:
        dill.dump(saved, f)
    os.replace(os.path.join(folder, 'variables.pkl.tmp'), os.path.join(folder, 'variables.pkl'))
    manifest = {'saved': sorted(saved), 'skipped': skipped, 'modules': modules}
    with open(os.path.join(folder, 'manifest.json.tmp'), 'w') as f:
        json.dump(manifest, f)
    os.replace(os.path.join(folder, 'manifest.json.tmp'), os.path.join(folder, 'manifest.json'))
__stardock_suspend(FOLDER)
del __stardock_suspend
"""

_LOAD = r"""
def __stardock_restore(folder, modules):
    import importlib, json, os
    import dill
    ip = get_ipython()
    loaded, failed = [], {}
    for name, module in modules.items():
        try:
            ip.user_ns[name] = importlib.import_module(module)
        except Exception as err:
            failed[name] = f'the module {module} could not be imported ({type(err).__name__}: {err})'[:300]
    path = os.path.join(folder, 'variables.pkl')
    with open(path, 'rb') as f:
        saved = dill.load(f)
    for name, data in saved.items():
        try:
            ip.user_ns[name] = dill.loads(data)
            loaded.append(name)
        except Exception as err:
            failed[name] = f'could not be loaded ({type(err).__name__}: {err})'[:300]
    os.remove(path)
    return json.dumps({'loaded': sorted(loaded), 'failed': failed})
__stardock_restored = __stardock_restore(FOLDER, MODULES)
del __stardock_restore
"""


def dump_code(folder: str) -> str:
    """Pickle every variable of the user's namespace into ``folder`` (a path in the container)."""
    return _DUMP.replace("__stardock_suspend(FOLDER)", f"__stardock_suspend({json.dumps(folder)})")


def load_code(folder: str, modules: dict[str, str]) -> str:
    """Load the variables a suspend saved; leaves their names, as JSON, in ``__stardock_restored``."""
    return _LOAD.replace(
        "__stardock_restore(FOLDER, MODULES)",
        f"__stardock_restore({json.dumps(folder)}, {json.dumps(modules)})",
    )
