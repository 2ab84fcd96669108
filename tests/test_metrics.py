"""Metrics against scikit-learn, the documented edge-case conventions, and clear input errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn import metrics as skm

from course_lib import metrics as M


def random_case(seed: int, shape=(3, 1, 20, 24), quantise: bool = False):
    rng = np.random.default_rng(seed)
    target = rng.random(shape) < 0.3
    # informative but noisy probabilities; quantising creates many ties (checks the tie handling)
    prob = np.clip(0.35 * target + 0.65 * rng.random(shape), 0, 1)
    if quantise:
        prob = np.round(prob * 10) / 10
    fov = np.zeros(shape, dtype=np.float32)
    fov[..., 3:-3, 2:-5] = 1
    return prob, target.astype(np.float32), fov


def sklearn_scores(prob, target, keep, threshold=0.5):
    y, s = target[keep].astype(int), prob[keep]
    pred = (s >= threshold).astype(int)
    return {
        "dice": skm.f1_score(y, pred),
        "f1": skm.f1_score(y, pred),
        "iou": skm.jaccard_score(y, pred),
        "accuracy": skm.accuracy_score(y, pred),
        "sensitivity": skm.recall_score(y, pred),
        "specificity": skm.recall_score(y, pred, pos_label=0),
        "precision": skm.precision_score(y, pred),
        "auc": skm.roc_auc_score(y, s),
    }


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("use_fov", [False, True])
@pytest.mark.parametrize("quantise", [False, True])
def test_scores_match_sklearn(seed, use_fov, quantise):
    prob, target, fov = random_case(seed, quantise=quantise)
    keep = fov > 0.5 if use_fov else np.ones_like(target, dtype=bool)
    ours = M.segmentation_scores(prob, target, fov if use_fov else None, threshold=0.5)
    assert set(ours) == set(M.SCORE_NAMES)
    assert all(type(v) is float for v in ours.values())
    expected = sklearn_scores(prob, target, keep)
    for key, value in expected.items():
        assert ours[key] == pytest.approx(value, abs=1e-12), key
    # torch tensors give the same numbers
    assert M.segmentation_scores(torch.from_numpy(prob), torch.from_numpy(target),
                                 torch.from_numpy(fov) if use_fov else None) == pytest.approx(ours)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("quantise", [False, True])
def test_roc_curve_matches_sklearn(seed, quantise):
    prob, target, fov = random_case(seed, quantise=quantise)
    keep = fov > 0.5
    fpr, tpr, thresholds = M.roc_curve(prob, target, fov)
    ref = skm.roc_curve(target[keep], prob[keep], drop_intermediate=False)
    for ours, theirs in zip((fpr, tpr, thresholds), ref, strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-12)
    assert np.trapezoid(tpr, fpr) == pytest.approx(M.roc_auc(prob, target, fov), abs=1e-12)


def test_sensitivity_is_not_precision():
    # 4 true vessel pixels, the model marks 2 of them plus 6 background pixels.
    target = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], dtype=float)
    prob = np.array([1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0], dtype=float)
    s = M.segmentation_scores(prob, target)
    assert s["sensitivity"] == pytest.approx(2 / 4)      # TP / (TP + FN)
    assert s["precision"] == pytest.approx(2 / 8)        # TP / (TP + FP): the bug's "sensitivity"
    assert s["specificity"] == pytest.approx(6 / 12)
    assert s["accuracy"] == pytest.approx(8 / 16)
    assert M.confusion_counts(prob, target) == {"tp": 2, "fp": 6, "tn": 6, "fn": 2}


def test_edge_case_conventions():
    empty = np.zeros((1, 1, 4, 4))
    s = M.segmentation_scores(empty, empty)
    assert s["dice"] == s["iou"] == s["f1"] == 1.0
    assert s["accuracy"] == 1.0 and s["specificity"] == 1.0
    assert np.isnan(s["sensitivity"]) and np.isnan(s["precision"]) and np.isnan(s["auc"])
    full = np.ones((1, 1, 4, 4))
    s = M.segmentation_scores(full, full)
    assert s["dice"] == 1.0 and s["sensitivity"] == 1.0
    assert np.isnan(s["specificity"]) and np.isnan(s["auc"])
    missed = M.segmentation_scores(empty, full)
    assert missed["dice"] == 0.0 and missed["sensitivity"] == 0.0 and np.isnan(missed["precision"])


def test_input_errors():
    prob, target, fov = random_case(0)
    with pytest.raises(ValueError, match=r"shape .* must match"):
        M.segmentation_scores(prob, target[:, :, :10])
    with pytest.raises(ValueError, match=r"softmax\(logits, 1\)\[:, 1:\]"):
        M.segmentation_scores(np.concatenate([prob, prob], 1), target)
    with pytest.raises(ValueError, match=r"torch\.sigmoid"):
        M.segmentation_scores(prob * 4 - 2, target)
    with pytest.raises(ValueError, match="field-of-view mask is empty"):
        M.segmentation_scores(prob, target, np.zeros_like(fov))
    with pytest.raises(ValueError, match="fov has shape"):
        M.segmentation_scores(prob, target, fov[:1])
    with pytest.raises(ValueError, match="255"):
        M.segmentation_scores(prob, target * 255)
    with pytest.raises(ValueError, match="NaN"):
        M.segmentation_scores(prob * np.nan, target)


def test_squeezable_shapes_are_accepted():
    prob, target, _ = random_case(1)
    assert M.segmentation_scores(prob, target[:, 0]) == M.segmentation_scores(prob, target)


def test_mae_and_max_f_beta():
    prob, target, _ = random_case(2, quantise=True)
    assert M.mae(prob, target) == pytest.approx(np.abs(prob - target).mean())
    best_f, best_t = M.max_f_beta(prob, target, beta2=0.3)
    # brute force over every distinct threshold with sklearn's fbeta_score
    y = target.ravel().astype(int)
    brute = {t: skm.fbeta_score(y, (prob.ravel() >= t).astype(int), beta=np.sqrt(0.3))
             for t in np.unique(prob)}
    assert best_f == pytest.approx(max(brute.values()), abs=1e-12)
    assert brute[best_t] == pytest.approx(best_f, abs=1e-12)
    assert M.max_f_beta(target, target) == (1.0, 1.0)
    f, t = M.max_f_beta(prob, np.zeros_like(target))
    assert f == 0.0 and np.isnan(t)
