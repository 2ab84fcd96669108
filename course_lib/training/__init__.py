"""Pieces of the training engine (:mod:`course_lib.engine` is the public face).

- :mod:`~course_lib.training.history`: the per-epoch record of a run (``History``).
- :mod:`~course_lib.training.checkpoint`: atomic ``last.pt`` / ``best.pt`` writing and safe resuming.
- :mod:`~course_lib.training.checks`: clear errors for the usual mistakes (``TrainingError``).
"""
