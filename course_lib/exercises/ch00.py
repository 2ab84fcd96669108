"""Chapter 00 checkers: scores inside the field of view, resizing a label map, Otsu's threshold."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from course_lib.exercises import call_answer as _call
from course_lib.exercises import exercise
from course_lib.tour import otsu_threshold as _reference_otsu

__all__: list[str] = []


def _disc_fov(h: int, w: int) -> torch.Tensor:
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    return (((yy - h / 2) ** 2 + (xx - w / 2) ** 2) <= (0.45 * min(h, w)) ** 2).float()[None]


def _confusion(pred: torch.Tensor, mask: torch.Tensor, region: torch.Tensor) -> dict[str, float]:
    tp, fp = float((pred * mask * region).sum()), float((pred * (1 - mask) * region).sum())
    tn, fn = float(((1 - pred) * (1 - mask) * region).sum()), float(((1 - pred) * mask * region).sum())
    return {"accuracy": (tp + tn) / (tp + tn + fp + fn), "sensitivity": tp / (tp + fn),
            "specificity": tn / (tn + fp), "precision": tp / (tp + fp)}


def _close(got: object, want: float) -> bool:
    return abs(float(got) - want) < 1e-6


@exercise("00.fov_scores")
def check_fov_scores(fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], dict]) -> None:
    """``fn(pred, mask, fov)``: accuracy, sensitivity and specificity of a {0, 1} prediction, counted
    inside the field of view only (all three 1xHxW float tensors)."""
    g = torch.Generator().manual_seed(3)
    fov = _disc_fov(48, 64)
    mask = (torch.rand(1, 48, 64, generator=g) < 0.15).float() * fov
    missed = (torch.rand(1, 48, 64, generator=g) < 0.3).float()  # a third of the vessels missed
    alarms = (torch.rand(1, 48, 64, generator=g) < 0.05).float()  # false alarms, in and outside the FOV
    pred = torch.clamp(mask * (1 - missed) + alarms * (1 - mask), 0, 1)
    got = _call(fn, pred.clone(), mask.clone(), fov.clone())
    assert isinstance(got, dict), (
        f"return a dict with the keys accuracy, sensitivity and specificity; got {type(got).__name__}.")
    missing = {"accuracy", "sensitivity", "specificity"} - set(got)
    assert not missing, f"the dict lacks {sorted(missing)}; return accuracy, sensitivity and specificity."
    want = _confusion(pred, mask, fov)
    whole = _confusion(pred, mask, torch.ones_like(fov))
    if any(_close(got["sensitivity"], scores["precision"]) for scores in (want, whole)):
        raise AssertionError("your sensitivity is TP / (TP + FP): that is precision (common bug 6). "
                             "Sensitivity is the share of the true foreground found: TP / (TP + FN).")
    assert _close(got["sensitivity"], want["sensitivity"]), (
        f"sensitivity should be {want['sensitivity']:.4f}, got {float(got['sensitivity']):.4f}: "
        "TP / (TP + FN).")
    for key in ("accuracy", "specificity"):
        if _close(got[key], whole[key]):
            raise AssertionError(
                f"your {key} ({float(got[key]):.4f}) counts the whole image; inside the FOV it is "
                f"{want[key]:.4f}. The black corners are easy true negatives: count only the pixels where "
                "fov == 1 (multiply each indicator by fov), and divide by the number of FOV pixels.")
        assert _close(got[key], want[key]), (
            f"{key} should be {want[key]:.4f} inside the FOV, got {float(got[key]):.4f}.")


@exercise("00.resize_label")
def check_resize_label(fn: Callable[[torch.Tensor, tuple[int, int]], torch.Tensor]) -> None:
    """``fn(label, size)``: a 1xHxW label map (float {0,1} mask or int64 instance ids) resized to ``size``."""
    g = torch.Generator().manual_seed(1)
    mask = (F.avg_pool2d(torch.rand(1, 1, 41, 57, generator=g), 5, 1, 2)[0] > 0.5).float()
    ids = torch.zeros(1, 30, 30, dtype=torch.int64)
    ids[:, :, 10:20], ids[:, :, 20:] = 1, 7  # neighbouring labels 0 | 1 | 7: interpolation would invent 2..6
    for label, size in ((mask, (64, 90)), (mask, (20, 28)), (ids, (45, 45)), (ids, (17, 23))):
        out = fn(label.clone(), size)
        assert isinstance(out, torch.Tensor), f"return a torch.Tensor, got {type(out).__name__}."
        assert tuple(out.shape) == (1, *size), (
            f"a 1x{label.shape[1]}x{label.shape[2]} label resized to {size} must have shape (1, {size[0]}, "
            f"{size[1]}), got {tuple(out.shape)}."
        )
        assert out.dtype == label.dtype, f"keep the dtype ({label.dtype}); got {out.dtype}."
        invented = sorted(set(out.unique().tolist()) - set(label.unique().tolist()))
        assert not invented, (
            f"the resized label contains values {invented[:5]} that are not labels of the input: that is "
            "interpolation (bilinear/bicubic) mixing neighbours. Use mode='nearest' (or 'nearest-exact')."
        )
        agree = max(float((out == F.interpolate(label[None].float(), size=size, mode=mode)[0].to(label.dtype))
                          .float().mean()) for mode in ("nearest", "nearest-exact"))
        assert agree > 0.9, (
            f"only {agree:.0%} of the pixels agree with a nearest-neighbour resize; did you flip or crop?"
        )


@exercise("00.otsu")
def check_otsu(fn: Callable[[np.ndarray], float]) -> None:
    """``fn(values)``: Otsu's threshold of a 1-D array of grey values."""
    rng = np.random.default_rng(2)
    cases = {
        "two equal, well separated classes": np.concatenate([rng.normal(0.3, 0.05, 2000),
                                                             rng.normal(0.7, 0.05, 2000)]),
        "a small bright class (10%)": np.concatenate([rng.normal(0.35, 0.08, 9000),
                                                      rng.normal(0.8, 0.05, 1000)]),
        "uniform values on [2, 5]": rng.uniform(2, 5, 5000),
        "three classes (dark 60%, grey 25%, bright 15%)": np.concatenate([
            rng.normal(0.2, 0.05, 6000), rng.normal(0.5, 0.05, 2500), rng.normal(0.85, 0.04, 1500)]),
    }
    for name, values in cases.items():
        got = float(fn(values.copy()))
        want = _reference_otsu(values)
        if _between_class_variance(values, got) >= 0.995 * _between_class_variance(values, want):
            continue  # any t in the flat top of w0*w1*(mu0-mu1)^2 is as good as Otsu's
        if abs(got - float(np.mean(values))) < 1e-3 * float(np.ptp(values)):
            raise AssertionError(f"on '{name}' you returned the mean ({got:.3f}); Otsu's threshold "
                                 "maximises the between-class variance w0*w1*(mu0-mu1)^2 over all t.")
        raise AssertionError(
            f"on '{name}' Otsu's threshold is {want:.3f}, you returned {got:.3f}. Check the class weights "
            "w0, w1 (fractions of values <= t and > t) and means mu0, mu1, and that you take the t with the "
            "LARGEST w0*w1*(mu0-mu1)^2."
        )


def _between_class_variance(values: np.ndarray, t: float) -> float:
    low = values <= t
    if low.all() or not low.any():
        return 0.0
    return float(low.mean() * (1 - low.mean()) * (values[low].mean() - values[~low].mean()) ** 2)
