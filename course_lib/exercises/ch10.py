"""Chapter 10 (the whole family) exercise checkers: a new unit for the generic U-Net, registered by name;
the Pareto front of a leaderboard; the sparse-annotation loss of the 3D U-Net."""

from __future__ import annotations

from collections.abc import Callable

import torch

from course_lib.blocks.se import SEBlock
from course_lib.exercises import call_answer as _call
from course_lib.exercises import exercise
from course_lib.losses import masked_cross_entropy
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


@exercise("10.masked_bce")
def check_masked_bce(fn: Callable[..., torch.Tensor]) -> None:
    """``fn(logits, mask, weight) -> loss``: BCE with logits averaged over the annotated voxels only
    (``weight`` 1 on labelled, 0 on unlabelled voxels), for N x 1 x D x H x W volumes."""
    g = torch.Generator().manual_seed(10)
    logits = torch.randn(2, 1, 6, 6, 6, generator=g) * 3
    mask = (torch.rand(2, 1, 6, 6, 6, generator=g) > 0.7).float()
    weight = (torch.rand(2, 1, 6, 6, 6, generator=g) > 0.75).float()
    got = _call(fn, logits, mask, weight)
    assert isinstance(got, torch.Tensor) and got.dim() == 0, "return one scalar tensor."
    expected = masked_cross_entropy(logits, mask, weight)
    if torch.allclose(got, expected, rtol=1e-4):
        flipped = torch.where(weight > 0, mask, 1 - mask)  # other labels where nobody annotated
        again = _call(fn, logits, flipped, weight)
        assert torch.allclose(again, got, rtol=1e-5), (
            "changing the mask where weight = 0 changed your loss: unlabelled voxels must not count.")
        return
    per_voxel = torch.nn.functional.binary_cross_entropy_with_logits(logits, mask, reduction="none")
    if torch.allclose(got, (per_voxel * weight).mean(), rtol=1e-4):
        raise AssertionError("you averaged over ALL voxels (weighted mean with the unlabelled zeros in the "
                             "denominator): the loss then shrinks with the share of labelled voxels. Divide "
                             "sum(w * bce) by sum(w).")
    if torch.allclose(got, per_voxel.mean(), rtol=1e-4):
        raise AssertionError("the weight is ignored: unlabelled voxels are then trained as whatever the mask "
                             "holds there (background), the mistake of section 3.")
    probs = torch.sigmoid(logits)
    bce = torch.nn.functional.binary_cross_entropy(probs, mask, reduction="none")
    if torch.allclose(got, (bce * weight).sum() / weight.sum(), rtol=1e-4):
        raise AssertionError("sigmoid + binary_cross_entropy: use binary_cross_entropy_with_logits on the "
                             "logits (course bug 8).")
    raise AssertionError(f"expected {float(expected):.5f}, got {float(got):.5f}: "
                         "sum(w * bce_with_logits) / sum(w).")

