"""The pytest plugins of a TinyTorch course, loaded as `-p tito.pytest_plugins.<name>` or by conftest.py.

- outcomes.py   writes each test's outcome to a JSON file for tito (tito/testing.py reads it);
- locations.py  shows failures at the student's module file and line, not the generated package's;
- course.py     lets a plain `pytest` tell the truth in any state of the course: a module that is not
                exported yet is one clear failing line instead of collection errors.
"""
