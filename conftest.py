"""The course's pytest rules live in tito/pytest_plugins/course.py; this file loads them.

They make a plain `pytest` collect every module file's inline tests as listed in course.yaml, tag each
module's tests with its marker (`pytest -m m01`), and report a module that is not exported yet as one
clear failing line instead of collection errors.
"""

pytest_plugins = ["tito.pytest_plugins.course"]
