"""tinytorch.nn.functional: the activations and losses as functions, as torch.nn.functional.

Each is defined beside its layer (tinytorch/nn/activations.py, tinytorch/nn/losses.py): `nn.ReLU()(x)`
calls `relu(x)`.
"""

from tinytorch import _lazy

__all__ = ["relu", "sigmoid", "tanh", "gelu", "softplus", "softmax", "log_softmax"]
__all__ += ["mse_loss", "cross_entropy", "binary_cross_entropy", "binary_cross_entropy_with_logits"]

__getattr__, __dir__ = _lazy(__name__, __all__)
