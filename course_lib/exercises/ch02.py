"""Chapter 02 (padding versus cropping) exercise checkers: valid sizes, the weight map's border term,
and the foreground-restricted Rand error."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from scipy import ndimage

from course_lib import instance_metrics, sizes
from course_lib.data.weight_map import label_instances, unet_weight_map
from course_lib.exercises import call_answer as _call
from course_lib.exercises import exercise


@exercise("02.valid_output_size")
def check_valid_output_size(fn: Callable[[int, int], int | None]) -> None:
    """``fn(input_size, depth) -> output size`` of the valid-convolution U-Net, ``None`` if it cannot run."""
    for depth in (1, 2, 3, 4):
        for n in range(1, 700, 1 if depth < 4 else 3):
            rows, error = sizes.walk_sizes(n, padded=False, depth=depth)
            expected = None if error else rows[-1].size
            got = _call(fn, n, depth)
            if expected is None:
                assert got is None, (
                    f"input {n}, depth {depth}: the network cannot run ({error}), so return None; you "
                    f"returned {got!r}. Check that every max-pool sees an even size.")
            else:
                assert got == expected, (
                    f"input {n}, depth {depth}: expected output {expected}, got {got!r}. Each 3x3 valid "
                    "conv loses 2 px, a double conv 4; a max-pool halves (odd sizes are invalid); an up-conv "
                    "doubles.")


def _cases() -> list[np.ndarray]:
    rng = np.random.default_rng(2)
    two = np.zeros((40, 50), np.int64)
    two[10:30, 5:24], two[10:30, 25:45] = 1, 2
    cases = [two, np.where(two == 2, 0, two), np.zeros((8, 8), np.int64)]
    for sigma in (2.0, 3.0):
        cases.append(label_instances(ndimage.gaussian_filter(rng.random((48, 64)), sigma) > 0.5))
    return cases


@exercise("02.border_term")
def check_border_term(fn: Callable[..., np.ndarray]) -> None:
    """``fn(instances, w0, sigma)``: ``w0 * exp(-(d1 + d2)^2 / (2 sigma^2))`` on background, 0 in cells."""
    for labels in _cases():
        for w0, sigma in ((10.0, 5.0), (5.0, 2.0)):
            expected = unet_weight_map(labels, w0=w0, sigma=sigma, class_balance=False) - 1.0
            got = np.asarray(_call(fn, labels.copy(), w0, sigma), dtype=np.float64)
            assert got.shape == labels.shape, (
                f"return an array of the image's shape {labels.shape}, got {got.shape}.")
            cells = int(labels.max())
            if cells < 2:
                assert np.allclose(got, 0, atol=1e-5), (
                    f"with {cells} cell(s) there is no second-nearest cell (d2 = infinity), so the term is 0 "
                    "everywhere.")
                continue
            assert np.allclose(got[labels > 0], 0, atol=1e-5), "the term is added on background pixels only."
            worst = np.unravel_index(np.argmax(np.abs(got - expected)), got.shape)
            assert np.allclose(got, expected, atol=1e-4), (
                f"w0={w0}, sigma={sigma}: at pixel {tuple(int(i) for i in worst)} expected "
                f"{expected[worst]:.4f}, got {got[worst]:.4f}. d1, d2 are the Euclidean distances to the "
                "nearest and second-nearest cell: a distance_transform_edt(instances != k) per cell k, then "
                "the two smallest per pixel.")


@exercise("02.rand_error")
def check_rand_error(fn: Callable[[np.ndarray, np.ndarray], Any]) -> None:
    """``fn(pred, true) -> float``: the foreground-restricted (ISBI) Rand error."""
    rng = np.random.default_rng(5)
    cases = [(c, c) for c in _cases() if c.max() > 0]
    for _ in range(4):
        true = label_instances(ndimage.gaussian_filter(rng.random((40, 40)), 2.5) > 0.5)
        pred = label_instances(ndimage.gaussian_filter(rng.random((40, 40)), 2.0) > 0.45)
        cases.append((pred, true))
    merged = cases[0][1].copy()
    cases.append(((merged > 0).astype(np.int64), merged))
    for pred, true in cases:
        expected = instance_metrics.adapted_rand_error(pred, true).error
        got = float(_call(fn, pred.copy(), true.copy()))
        assert abs(got - expected) < 1e-9, (
            f"expected {expected:.6f}, got {got:.6f} (pred with {len(np.unique(pred))} labels, true with "
            f"{int(true.max())} cells). Count only pixels with true > 0; n_ij from the contingency table; "
            "pairs C(n) = n(n-1)/2; merge = sum C(n_ij) / sum C(b_j), split = sum C(n_ij) / sum C(a_i); "
            "error = 1 - 2 merge split / (merge + split).")
