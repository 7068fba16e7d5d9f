"""`tito grade`: grades a class can trust.

- declare.py: how a module's checks are declared (tests/NN_slug/grading.py) and loaded.
- kit.py: what grading prepares from the instructor's course (starters, reference packages, checks).
- sandbox.py: the bubblewrap sandbox each graded run executes in; seccomp.py: the system calls every
  run is denied; guard.py: the audit hook, a second layer where bubblewrap cannot run.
- prepare.py: the starter check and the export of a student's file, in a child process.
- harness.py: what runs inside a graded run (and, unguarded, for the reference); channel.py: the
  plain-data records it sends back; graded_run.py: starting, reading and killing it.
- compare.py and verdict.py: verdicts made in the grader's process; grade_reports.py: grades.csv, reports
  and each student's stored result.
- grader.py: grading a class (`grade_students`); batch.py: each (student, module) found, prepared,
  run and judged; students.py: a submissions folder read safely; walls.py: the walls a run gets without
  bubblewrap; errors.py: the grader's exceptions; submissions.py: a folder of submissions in, grades out.
- gradescope.py: the same checks as a Gradescope autograder.

This file imports nothing, so the sandboxed harness starts without loading the grader.
"""
