"""tinytorch.training: the Trainer, its events and checkpoints, seeding and gradient clipping (course module 07)."""

from tinytorch import namespace as _namespace

__getattr__, __dir__, __all__ = _namespace("tinytorch.training")
