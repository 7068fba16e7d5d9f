"""tinytorch.nn: Module and Parameter, the layers and the losses, as torch.nn.

Written in course modules 02 (Module, activation layers), 03 (Linear, Sequential, Dropout; nn.init),
04 (losses) and 09 (convolution, pooling, batch norm, Flatten). The same computations as functions are
in tinytorch.nn.functional. The spatial kernels the layers run are in tinytorch.nn.kernels (as the
course writes them) and tinytorch.nn.engine (the fast engine).
"""

from tinytorch import _lazy

__all__ = ["Module", "Parameter", "Linear", "Sequential", "Dropout", "Flatten"]
__all__ += ["ReLU", "Sigmoid", "Tanh", "GELU", "Softmax", "LogSoftmax"]
__all__ += ["MSELoss", "CrossEntropyLoss", "BCELoss", "BCEWithLogitsLoss"]
__all__ += ["Conv2d", "MaxPool2d", "AvgPool2d", "BatchNorm2d"]

__getattr__, __dir__ = _lazy(__name__, __all__)
