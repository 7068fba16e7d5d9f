"""The milestone runner: train the course's historic networks on the student's own tinytorch.

`tito milestone run ID` is `runner.run_milestone`; the rest are its parts (requirements, tuning,
progress, display, rundir, plots). The scripts themselves live in milestones/<id>/ at the course root.
"""

from tito.milestones.progress import NonFiniteLoss, Progress, print_progress, silent
from tito.milestones.runner import MilestoneError, RunOptions, RunResult, run_milestone

__all__ = ["MilestoneError", "NonFiniteLoss", "Progress", "RunOptions", "RunResult", "print_progress", "run_milestone", "silent"]
