"""tinytorch.core is gone: each name now has the one path PyTorch gives it."""

raise ImportError(
    "tinytorch.core.<chapter> is gone; import as from torch: Tensor and no_grad from tinytorch, layers and "
    "losses from tinytorch.nn, optimizers from tinytorch.optim (schedules: tinytorch.optim.lr_scheduler), "
    "DataLoader from tinytorch.data, Function and gradcheck from tinytorch.autograd, Trainer from tinytorch.training."
)
