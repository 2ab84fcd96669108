"""Instance metrics: the ISBI Rand error against scikit-image, hand-made merges/splits, touching pairs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import ndimage

from course_lib import instance_metrics as im
from course_lib.data.weight_map import label_instances

ISBI = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "isbi2012"


def grid_cells(rows: int = 3, cols: int = 3, cell: int = 10, gap: int = 1) -> np.ndarray:
    """rows x cols square cells of side ``cell`` separated by ``gap`` px of background."""
    step = cell + gap
    labels = np.zeros((rows * step + gap, cols * step + gap), np.int64)
    for r in range(rows):
        for c in range(cols):
            top, left = gap + r * step, gap + c * step
            labels[top:top + cell, left:left + cell] = r * cols + c + 1
    return labels


def test_rand_error_matches_scikit_image_on_random_segmentations() -> None:
    metrics = pytest.importorskip("skimage.metrics")
    rng = np.random.default_rng(0)
    for trial in range(6):
        true = label_instances(ndimage.gaussian_filter(rng.random((64, 80)), 3) > 0.5)
        pred = label_instances(ndimage.gaussian_filter(rng.random((64, 80)), 2 + trial % 3) > 0.45)
        if trial % 2:
            pred = im.cells_from_probability((pred == 0).astype(float), min_size=1)  # no label 0
        ours = im.adapted_rand_error(pred, true)
        error, first, second = metrics.adapted_rand_error(true, pred, ignore_labels=(0,))
        # scikit-image returns (error, split, merge) under the names (error, precision, recall)
        np.testing.assert_allclose(ours, (error, second, first), rtol=1e-10, atol=1e-12)


def test_rand_error_on_hand_made_merges_and_splits() -> None:
    true = grid_cells(1, 2, cell=10)  # two 10x10 cells, 100 px each
    assert im.adapted_rand_error(true, true) == (0.0, 1.0, 1.0)
    relabelled = np.where(true == 1, 7, np.where(true == 2, 3, 0))
    assert im.adapted_rand_error(relabelled, true).error == 0.0  # label ids do not matter
    merged = (true > 0).astype(np.int64)  # both cells one segment
    err = im.adapted_rand_error(merged, true)
    # same-cell pairs 2 * C(100) = 9900; same-segment pairs C(200) = 19900: precision 9900 / 19900
    assert err.split_score == 1.0 and err.merge_score == pytest.approx(9900 / 19900)
    assert err.error == pytest.approx(1 - 2 * (9900 / 19900) / (1 + 9900 / 19900))
    split = true.copy()
    split[:, 6:] = np.where(true[:, 6:] == 1, 5, split[:, 6:])  # cell 1 split 50 / 50 px
    err = im.adapted_rand_error(split, true)
    assert err.merge_score == 1.0 and err.split_score == pytest.approx((2 * 1225 + 4950) / 9900)
    with pytest.raises(ValueError, match="no cells"):
        im.adapted_rand_error(true, np.zeros_like(true))
    with pytest.raises(ValueError, match="differ in shape"):
        im.adapted_rand_error(true[:, :5], true)
    with pytest.raises(ValueError, match="cells_from_probability"):
        im.adapted_rand_error(true * 0.5, true)


def test_touching_pairs_and_merged_counts() -> None:
    true = grid_cells(2, 2, cell=8, gap=1)  # 1 2 / 3 4: four touching pairs incl. diagonals 1-4, 2-3
    pairs = im.touching_pairs(true, max_gap=1)
    assert {tuple(p) for p in pairs} == {(1, 2), (1, 3), (1, 4), (2, 3), (2, 4), (3, 4)}
    apart = grid_cells(1, 2, cell=8, gap=4)
    assert len(im.touching_pairs(apart, max_gap=2)) == 0 and len(im.touching_pairs(apart, max_gap=4)) == 1
    perfect = im.separation_scores(true, true, max_gap=1)
    assert perfect["merged_pairs"] == perfect["merged_cells"] == 0 and perfect["rand_error"] == 0.0
    assert perfect["cells"] == perfect["segments"] == 4 and perfect["touching_pairs"] == 6
    pred = np.where(true == 2, 1, true)  # cells 1 and 2 merged into one segment
    scores = im.separation_scores(pred, true, max_gap=1)
    assert scores["merged_pairs"] == 1 and scores["merged_cells"] == 2 and scores["segments"] == 3
    assert scores["rand_error"] > 0.1
    home = im.home_segments(pred, true)
    assert home[1:].tolist() == [1, 1, 3, 4]


def test_cells_from_probability() -> None:
    true = grid_cells(2, 3, cell=9, gap=2)
    membrane_prob = (true == 0).astype(np.float32) * 0.9 + 0.05
    membrane_prob[5, 5] = 0.95  # a speck inside a cell does not split it
    cells = im.cells_from_probability(torch.from_numpy(membrane_prob)[None], threshold=0.5)
    assert cells.shape == true.shape and cells.min() == 1 and cells.max() == 6  # expanded: no 0 left
    assert im.adapted_rand_error(cells, true).error == 0.0
    raw = im.cells_from_probability(membrane_prob, expand=False)
    assert (raw == 0).sum() == (true == 0).sum() + 1
    fragments = (true == 0).astype(float)
    fragments[1:4, 1:4] = 1
    fragments[2, 2] = 0  # a 1-px "cell" is below min_size and dropped
    assert im.cells_from_probability(fragments, min_size=4, expand=False).max() == 6
    cell_prob = 1 - membrane_prob
    np.testing.assert_array_equal(im.cells_from_probability(cell_prob, membrane=False), cells)


def test_isbi_ground_truth_has_many_touching_cells() -> None:
    label_file = ISBI / "train" / "label" / "0.png"
    if not label_file.exists():
        pytest.skip(f"ISBI 2012 test data not found at {ISBI}")
    from PIL import Image

    true = label_instances(np.array(Image.open(label_file)) > 127)
    pairs = im.touching_pairs(true, max_gap=4)  # ISBI membranes are 2-8 px wide
    assert len(pairs) > 1.5 * true.max()  # most cells touch several others
    eroded = ndimage.grey_erosion(true, size=3)  # thicker predicted membranes, same cells: tiny error
    cells = im.cells_from_probability((eroded == 0).astype(float), min_size=1)
    assert im.adapted_rand_error(cells, true).error < 0.05
