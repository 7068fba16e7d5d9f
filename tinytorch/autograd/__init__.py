"""tinytorch.autograd: grad mode, Function, the backward pass and gradcheck (course module 05).

The differentiable operations behind Tensor's methods (Add, MatMul, ...) and the code that installs
them are machinery: import them from tinytorch.autograd.ops and tinytorch.autograd.install.
"""

from tinytorch import namespace as _namespace

__getattr__, __dir__, __all__ = _namespace("tinytorch.autograd")
