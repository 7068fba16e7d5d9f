"""tinytorch.optim: the optimizers (course module 06), as torch.optim; the learning-rate schedules
(module 07) are in tinytorch.optim.lr_scheduler."""

from tinytorch import _lazy

__all__ = ["Optimizer", "SGD", "Adam", "AdamW"]

__getattr__, __dir__ = _lazy(__name__, __all__)
