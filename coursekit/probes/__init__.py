"""Probes: instructor code that runs next to the student's code and returns plain data only.

One module per lesson (``coursekit.probes.lesson01``); each probe takes the exercise's inputs
(plain data) and the student's objects, calls them, and describes what happened with
:func:`coursekit.exercise.probing.attempt`. Probes hold no reference answers: the judges in
:mod:`coursekit.checks` compare, outside the student's process when grading.
"""
