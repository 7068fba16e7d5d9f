"""tinytorch.training: the course's training loop (module 07): Trainer, its events and checkpoints,
accuracy, seeding and gradient clipping."""

from tinytorch import _lazy

__all__ = ["Trainer", "TrainEvent", "TrainingDivergedError", "accuracy", "save_checkpoint", "load_checkpoint"]
__all__ += ["seed_everything", "clip_grad_norm_"]

__getattr__, __dir__ = _lazy(__name__, __all__)
