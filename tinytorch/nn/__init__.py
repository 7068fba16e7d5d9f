"""tinytorch.nn: Module and Parameter, layers, activations, losses and initialisation, as torch.nn.

Written in course modules 02 (Module, activations), 03 (init, Linear, Sequential, Dropout), 04 (losses)
and 09 (convolution, pooling, batch norm, Flatten). Names resolve lazily through the catalog, so a
layer whose module is not exported yet says which `tito module complete NN` to run. The engine that
runs the spatial kernels over threads is machinery: import it from tinytorch.nn.engine.
"""

from tinytorch import namespace as _namespace

__getattr__, __dir__, __all__ = _namespace("tinytorch.nn")
