"""Synthetic datasets: the course's offline default, deterministic and rendered on the fly.

``cl.data.load(name, split="train", n=None, size=..., seed=0, difficulty=0.5, **knobs)`` with
``name`` one of ``synthetic-vessels`` (fundus vessels), ``synthetic-membranes`` (EM membranes),
``synthetic-salient`` (salient objects on clutter), ``synthetic-lesions`` (small faint lesions).
Sample ``i`` of a split is a pure function of (seed, split, i, knobs); the splits draw from disjoint
seed streams. Each module registers its factory; :mod:`.base` holds the shared machinery and
:mod:`.draw` the image helpers.
"""
