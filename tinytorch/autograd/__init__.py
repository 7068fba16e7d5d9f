"""tinytorch.autograd: Function, grad mode and gradcheck (course module 05), as torch.autograd.

The differentiable operations behind Tensor's methods (Add, MatMul, ...) are in tinytorch.autograd.ops,
the backward pass in tinytorch.autograd.engine, and the code that fills Tensor's hook in
tinytorch.autograd.install.
"""

from tinytorch import _lazy

__all__ = ["Function", "no_grad", "is_grad_enabled", "gradcheck", "GradcheckError"]

__getattr__, __dir__ = _lazy(__name__, __all__)
