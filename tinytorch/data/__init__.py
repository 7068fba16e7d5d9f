"""tinytorch.data: datasets, the DataLoader and batched transforms (course module 08), as torch.utils.data.

`from tinytorch.data import DataLoader` imports the file that defines it the first time it is asked
for; before module 08 is exported it raises an ImportError saying which command to run.
"""

from tinytorch import namespace as _namespace

__getattr__, __dir__, __all__ = _namespace("tinytorch.data")
