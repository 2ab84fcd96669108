"""Chapter 10 (the whole family) exercise checkers: a new unit for the generic U-Net, registered by name;
the Pareto front of a leaderboard; the class-balanced sparse-annotation loss of the 3D U-Net."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from course_lib.blocks.se import SEBlock
from course_lib.exercises import call_answer as _call
from course_lib.exercises import exercise
from course_lib.models.registry import _MODELS, create_model
from course_lib.models.unet import UNet
from course_lib.protocols.leaderboard import pareto_front


@exercise("10.se_unet")
def check_se_unet(name: str) -> None:
    """``name``: the registry name of a U-Net (``cl.models.unet.UNet`` given ``block=...``) whose unit at
    every level is a double conv followed by an SE block."""
    if not isinstance(name, str):
        raise AssertionError(f"pass the name you registered (a string such as 'se_unet'), got "
                             f"{type(name).__name__}.")
    if name.strip().lower().replace("-", "_") not in _MODELS:
        raise AssertionError(f"no model is registered as {name!r}: decorate your factory with "
                             f"@cl.models.register_model({name!r}, replace=True).")
    widths = (8, 16, 32)
    try:
        model = create_model(name, in_channels=3, out_channels=1, widths=widths)
    except TypeError as err:
        raise AssertionError(f"create_model({name!r}, in_channels=3, out_channels=1, widths={widths}) "
                             f"failed: {err}. Let the factory take in_channels, out_channels and "
                             "widths.") from None
    if not isinstance(model, UNet):
        raise AssertionError(f"the factory returned a {type(model).__name__}; return the course's one U-Net, "
                             "cl.models.unet.UNet(in_channels, out_channels, widths, block=your_unit), "
                             "instead of writing a new network.")
    se = [m for m in model.modules() if isinstance(m, SEBlock)]
    levels = 2 * (len(widths) - 1) + 1
    if not se:
        raise AssertionError("the model has no SEBlock: the unit should be "
                             "nn.Sequential(DoubleConv(in, out), SEBlock(out, reduction)).")
    if len(se) != levels:
        raise AssertionError(f"found {len(se)} SE blocks; a U-Net of {len(widths)} levels has {levels} units "
                             "(encoder, bottleneck, decoder). Pass the unit as block=..., which UNet uses at "
                             "every level (first_block only replaces the first).")
    expected = sorted([widths[0], widths[1], widths[2], widths[1], widths[0]])
    if sorted(b.channels for b in se) != expected:
        raise AssertionError(f"the SE blocks have {sorted(b.channels for b in se)} channels, expected "
                             f"{expected}: put SEBlock(out_channels) after the double conv, not before it.")
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        y = model.eval()(x)
    assert y.shape == (2, 1, 32, 32), f"the output should be (2, 1, 32, 32), got {tuple(y.shape)}."


@exercise("10.pareto")
def check_pareto(fn: Callable[..., list[int]]) -> None:
    """``fn(costs, scores) -> indices``: the models no other model beats (lower-or-equal cost and
    higher-or-equal score, one of them strictly), sorted by cost."""
    cases = [
        ([1.0, 2.0, 3.0, 4.0], [0.60, 0.70, 0.65, 0.80]),
        ([5.0, 1.0, 1.0, 2.0, 8.0], [0.9, 0.5, 0.4, 0.5, 0.95]),
        ([3.0, 2.0, 1.0], [0.1, 0.2, 0.3]),
    ]
    for costs, scores in cases:
        got = _call(fn, list(costs), list(scores))
        expected = pareto_front(costs, scores)
        got_list = [int(i) for i in got]
        if got_list == expected:
            continue
        if sorted(got_list) == expected:
            raise AssertionError("the right models, but sort them by cost (cheapest first).")
        reversed_front = pareto_front([-c for c in costs], scores)
        if sorted(got_list) == sorted(reversed_front):
            raise AssertionError("you kept the models that are best for their HIGH cost; a model is on the "
                                 "front when no other is both cheaper (or as cheap) and better (or as good).")
        if 2 in got_list and costs == cases[1][0]:
            raise AssertionError("model 2 costs as much as model 1 but scores lower: equal cost with a "
                                 "lower score is dominated (lower-or-equal cost and higher-or-equal "
                                 "score, one strictly).")
        raise AssertionError(f"for costs {costs} and scores {scores} the front is {expected}, you gave "
                             f"{got_list}.")


def _balanced_sparse(logits: torch.Tensor, mask: torch.Tensor, labelled: torch.Tensor, *,
                     count_all: bool = False, zero_unlabelled: bool = True, inverse: bool = True,
                     normalise: str = "weights") -> torch.Tensor:
    """The class-balanced sparse loss and the usual ways to get it wrong (keyword switches)."""
    per_voxel = F.binary_cross_entropy_with_logits(logits, mask, reduction="none")
    counted = torch.ones_like(labelled) if count_all else labelled
    n_fg, n_bg = (counted * mask).sum(), (counted * (1 - mask)).sum()
    if inverse:
        w_fg = 1 / n_fg if n_fg > 0 else torch.zeros(())
        w_bg = 1 / n_bg if n_bg > 0 else torch.zeros(())
    else:
        w_fg, w_bg = n_fg, n_bg
    weight = mask * w_fg + (1 - mask) * w_bg
    if zero_unlabelled:
        weight = weight * labelled
    total = (weight * per_voxel).sum()
    return {"weights": total / weight.sum(), "sum": total, "voxels": total / weight.numel()}[normalise]


@exercise("10.balanced_sparse_bce")
def check_balanced_sparse_bce(fn: Callable[..., torch.Tensor]) -> None:
    """``fn(logits, mask, labelled) -> loss``: BCE with logits over the labelled voxels only, each class
    weighted by the inverse of its count among the LABELLED voxels (w = labelled / n_class, L = sum w l /
    sum w: the mean of the foreground's and the background's mean loss), for N x 1 x D x H x W volumes."""
    g = torch.Generator().manual_seed(33)
    shape = (2, 1, 8, 8, 8)
    mask = (torch.rand(shape, generator=g) > 0.85).float()
    mask[..., 2:5, 3:6, 3:6] = 1  # a labelled object, so the labelled slices hold both classes
    labelled = torch.zeros(shape)
    labelled[:, :, ::3] = 1        # every third slice annotated
    labelled[:, :, :, ::4] = 1     # and every fourth along another axis
    cases = [("random logits", torch.randn(shape, generator=g) * 3, mask, labelled)]
    saturated = torch.where(mask > 0, -1.0, 1.0) * (torch.rand(shape, generator=g) * 40 + 10)
    saturated = torch.where(torch.rand(shape, generator=g) > 0.7, saturated, -saturated)
    cases.append(("logits of +-10 to +-50", saturated, mask, labelled))
    background_only = labelled * (1 - mask)  # annotations that happen to hold no foreground at all
    cases.append(("labelled voxels all background", torch.randn(shape, generator=g), mask, background_only))
    for what, logits, m, lab in cases:
        got = _call(fn, logits, m, lab)
        assert isinstance(got, torch.Tensor) and got.dim() == 0, "return one scalar tensor."
        if not torch.isfinite(got):
            raise AssertionError(f"{what}: your loss is {float(got)}. When the labelled voxels hold no "
                                 "foreground, the foreground's weight 1 / 0 must not poison the sum: give a "
                                 "class with no labelled voxel weight 0 (or clamp its count at 1).")
        expected = _balanced_sparse(logits, m, lab)
        if torch.allclose(got, expected, rtol=1e-4):
            flipped = torch.where(lab > 0, m, 1 - m)  # other labels where nobody annotated
            again = _call(fn, logits, flipped, lab)
            assert torch.allclose(again, got, rtol=1e-5), (
                "changing the mask where nothing is labelled changed your loss: unlabelled voxels must not "
                "count, neither in the loss nor in the class counts.")
            continue
        per_voxel = F.binary_cross_entropy_with_logits(logits, m, reduction="none")
        probs_bce = F.binary_cross_entropy(torch.sigmoid(logits), m, reduction="none")
        n_fg, n_bg = (lab * m).sum(), (lab * (1 - m)).sum()
        sigmoid_version = sum((probs_bce * lab * c).sum() / n.clamp_min(1)
                              for c, n in ((m, n_fg), (1 - m, n_bg)))
        sigmoid_version = sigmoid_version / ((n_fg > 0).float() + (n_bg > 0).float())
        mistakes = {
            "that is section 3's masked loss without the class weights (every labelled voxel counts the "
            "same), so the frequent background dominates. Weight each labelled voxel by 1 / (the number of "
            "labelled voxels of its class)": (per_voxel * lab).sum() / lab.sum(),
            "you counted the classes over ALL voxels; the unlabelled ones are unknown (the mask there holds "
            "whatever the annotator left, usually background). Count foreground and background among the "
            "labelled voxels only": _balanced_sparse(logits, m, lab, count_all=True),
            "the unlabelled voxels are in the loss: multiply the weight by `labelled` (0 where nobody "
            "annotated), then count the classes among the labelled voxels": _balanced_sparse(
                logits, m, lab, count_all=True, zero_unlabelled=False),
            "the unlabelled voxels were trained as background (0 in the mask, weight 1): the mistake of "
            "section 3, which teaches the network to miss. Give them weight 0": _balanced_sparse(
                logits, m * lab, torch.ones_like(lab), zero_unlabelled=False),
            "the weights grow with the class count, which favours the frequent class even more; weight by "
            "the INVERSE count, 1 / n_class": _balanced_sparse(logits, m, lab, inverse=False),
            "you summed the classes' mean losses; average them (divide sum(w * bce) by sum(w)), so the loss "
            "keeps one class's scale": _balanced_sparse(logits, m, lab, normalise="sum"),
            "you divided by the number of voxels; divide sum(w * bce) by sum(w), or the loss shrinks with "
            "the size of the volume": _balanced_sparse(logits, m, lab, normalise="voxels"),
            "sigmoid + binary_cross_entropy: at logits of +-40 the probability rounds to 0 or 1 and BCE "
            "clamps log 0 at -100; use binary_cross_entropy_with_logits on the logits (course bug 8)":
                sigmoid_version,
        }
        for hint, wrong in mistakes.items():
            if torch.isfinite(wrong) and torch.allclose(got, wrong, rtol=1e-4):
                raise AssertionError(f"{what}: {hint}.")
        raise AssertionError(
            f"{what}: expected {float(expected):.5f}, got {float(got):.5f}. w = labelled * (mask / n_fg + "
            "(1 - mask) / n_bg), with n_fg and n_bg counted over the labelled voxels (a class that has none "
            "gets weight 0); loss = sum(w * bce_with_logits) / sum(w).")
