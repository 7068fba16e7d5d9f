"""tinytorch.data: datasets, loaders and batched transforms (module 08, exported to tinytorch/data/loader.py).

`from tinytorch.data import DataLoader` imports tinytorch.data.loader the first time a name is asked
for; before module 08 is exported it raises an ImportError saying which command to run.
"""

import importlib


def __getattr__(name: str):
    try:
        loader = importlib.import_module("tinytorch.data.loader")
    except ModuleNotFoundError as exc:
        if exc.name != "tinytorch.data.loader":
            raise
        raise ImportError(
            f"tinytorch.data.{name} is written in module 08 (dataloader), which is not exported yet: "
            "run `tito module complete 08`."
        ) from None
    if name not in loader.__all__:
        raise AttributeError(f"module 'tinytorch.data' has no attribute {name!r}")
    return getattr(loader, name)


def __dir__():
    try:
        return sorted(importlib.import_module("tinytorch.data.loader").__all__)
    except ModuleNotFoundError:
        return []
