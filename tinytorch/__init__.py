"""TinyTorch: a PyTorch-like deep-learning framework built in NumPy, one course module at a time.

The package face resolves public names lazily: `from tinytorch import Tensor` imports
`tinytorch.core.tensor` the first time `Tensor` is asked for. Which module provides which name is read
from `tinytorch/_catalog.py`, which `tito export` generates from the module files, so a name whose
module is not exported yet raises an ImportError that says which `tito module complete NN` to run.

Autograd: module 01's Tensor computes forward passes only. Module 05 (`tinytorch.core.autograd`)
defines a differentiable Function for each Tensor operation and `enable_autograd()`, which installs
them on Tensor. The one call to it is at the bottom of this file, so whichever tinytorch module a
program imports first, Tensor has gradients as soon as module 05 is exported, and never before.
"""

from __future__ import annotations

import importlib
import importlib.util

from tinytorch._catalog import MODULES, NAMES

__version__ = "0.1.0"


def _not_exported(name: str, module_id: str) -> ImportError:
    slug = MODULES.get(module_id, "?")
    return ImportError(
        f"tinytorch.{name} is written in module {module_id} ({slug}), which is not exported yet: "
        f"run `tito module complete {module_id}`."
    )


def __getattr__(name: str):
    if name not in NAMES:
        raise AttributeError(f"module 'tinytorch' has no attribute {name!r}")
    package_module, module_id = NAMES[name]
    try:
        module = importlib.import_module(package_module)
    except ModuleNotFoundError as exc:
        if exc.name == package_module:
            raise _not_exported(name, module_id) from None
        raise
    try:
        value = getattr(module, name)
    except AttributeError:
        raise _not_exported(name, module_id) from None
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(NAMES))


__all__ = sorted(NAMES)

# Module 05 makes Tensor differentiable. See the docstring above for why this is the one place.
if importlib.util.find_spec("tinytorch.core.autograd") is not None:
    from tinytorch.core.autograd import enable_autograd as _enable_autograd

    _enable_autograd()
