"""tinytorch.optim: SGD and Adam (course module 06) and the learning-rate schedulers (module 07), as torch.optim."""

from tinytorch import namespace as _namespace

__getattr__, __dir__, __all__ = _namespace("tinytorch.optim")
