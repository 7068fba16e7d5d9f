"""tinytorch.models: complete networks built from tinytorch.nn (SimpleCNN, course module 09)."""

from tinytorch import _lazy

__all__ = ["SimpleCNN"]

__getattr__, __dir__ = _lazy(__name__, __all__)
