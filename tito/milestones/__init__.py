"""The milestone runner: train the course's historic networks on the student's own tinytorch.

`tito milestone run ID` is `milestone_run.run_milestone`; the rest are its parts: settings (what a script
declares, read without importing it), tuning (speed settings for the process), events (what a
script reports as it trains), display (what a person sees), rundir (metrics.json) and plots. Whether
a milestone may run is tito/course_state.py's to say. The scripts themselves live in milestones/<id>/ at the course
root. Nothing is imported here, so that `tito.milestones.tuning` can run before NumPy is loaded.
"""
