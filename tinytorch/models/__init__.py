"""tinytorch.models: complete networks built from tinytorch.nn (SimpleCNN, course module 09)."""

from tinytorch import namespace as _namespace

__getattr__, __dir__, __all__ = _namespace("tinytorch.models")
