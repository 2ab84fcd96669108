"""Chapter 01 (U-Net) exercise checkers: a double convolution from its description, a hand-written U-Net to
repair (common bugs 4 and 5), the skip concatenation with centre crop, the expanding step that pads the
upsampled map to its skip (any input size)."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from course_lib.blocks.conv import DoubleConv, center_crop
from course_lib.exercises import call_answer as _call
from course_lib.exercises import exercise


@exercise("01.double_conv")
def check_double_conv(fn: Callable[..., nn.Module]) -> None:
    """``fn(c_in, c_out, mid)`` (``mid=None``: ``c_out``): conv 3x3 -> BatchNorm -> ReLU, twice, the first
    conv to ``mid`` channels, the second to ``c_out``; padding 1, no conv bias."""
    for c_in, c_out, mid in ((1, 8, None), (3, 16, 8), (8, 4, 12)):
        width = c_out if mid is None else mid
        block = _call(fn, c_in, c_out, mid)
        assert isinstance(block, nn.Module), (
            f"return an nn.Module (e.g. nn.Sequential), got {type(block).__name__}.")
        convs = [m for m in block.modules() if isinstance(m, nn.Conv2d)]
        norms = [m for m in block.modules() if isinstance(m, nn.BatchNorm2d)]
        assert len(convs) == 2, f"a double convolution has 2 nn.Conv2d layers, yours has {len(convs)}."
        assert all(c.kernel_size == (3, 3) for c in convs), "both convolutions are 3x3 (kernel_size=3)."
        got = [(c.in_channels, c.out_channels) for c in convs]
        assert got == [(c_in, width), (width, c_out)], (
            f"double_conv({c_in}, {c_out}, mid={mid}): the convs should map {c_in} -> {width} -> {c_out} "
            f"channels, yours map {got[0][0]} -> {got[0][1]} -> {got[1][1]}. The first conv goes to mid "
            "(c_out when mid is None), the second from mid to c_out.")
        assert all(c.padding == (1, 1) for c in convs), "use padding=1: a padded 3x3 conv keeps the size."
        assert len(norms) == 2, f"each conv is followed by a BatchNorm2d: 2 in all, yours has {len(norms)}."
        sizes = [n.num_features for n in norms]
        if sizes != [width, c_out]:
            raise AssertionError(
                f"double_conv({c_in}, {c_out}, mid={mid}) has BatchNorm2d({sizes[0]}) and "
                f"BatchNorm2d({sizes[1]}); they need {width} and {c_out}: each BatchNorm normalises the "
                "channels of the conv before it. BatchNorm2d(out) after a conv to mid only works while "
                "mid == out (common bug 4).")
        assert all(c.bias is None for c in convs), (
            "drop the conv bias (bias=False): the BatchNorm after it removes the mean and adds its shift.")
        relus = sum(isinstance(m, nn.ReLU) for m in block.modules())
        assert relus == 2, f"a ReLU after each BatchNorm: 2 in all, yours has {relus}."
        reference = DoubleConv(c_in, c_out, mid)
        layers = [m for m in reference.modules() if isinstance(m, nn.Conv2d | nn.BatchNorm2d)]
        mine = [m for m in block.modules() if isinstance(m, nn.Conv2d | nn.BatchNorm2d)]
        with torch.no_grad():  # the reference's weights in the same layers: the outputs must agree
            for ours, theirs in zip(mine, layers, strict=True):
                ours.weight.copy_(theirs.weight)
                if isinstance(ours, nn.BatchNorm2d):
                    ours.bias.copy_(theirs.bias)
        x = torch.randn(2, c_in, 12, 12, generator=torch.Generator().manual_seed(c_in))
        out = _call(block.train(), x)
        assert tuple(out.shape) == (2, c_out, 12, 12), (
            f"an input (2, {c_in}, 12, 12) should give (2, {c_out}, 12, 12), got {tuple(out.shape)}.")
        assert torch.allclose(out, reference.train()(x), atol=1e-5), (
            "the layers are right but the output differs from a double convolution with the same weights: "
            "the order is conv -> BatchNorm -> ReLU, then conv -> BatchNorm -> ReLU.")


class _ReferenceUNet(nn.Module):
    """The depth-2 U-Net of the exercise, without its bugs."""

    def __init__(self, in_channels: int = 1, out_channels: int = 1,
                 widths: tuple[int, int, int] = (8, 16, 32), swapped: tuple[int, ...] = ()) -> None:
        super().__init__()
        w0, w1, w2 = widths
        self.swapped = swapped  # stages that concatenate [up, skip] (a checker's variant)
        self.enc0 = DoubleConv(in_channels, w0)
        self.enc1 = DoubleConv(w0, w1)
        self.bottom = DoubleConv(w1, w2)
        self.up1 = nn.ConvTranspose2d(w2, w1, kernel_size=2, stride=2)
        self.dec1 = DoubleConv(2 * w1, w1)
        self.up0 = nn.ConvTranspose2d(w1, w0, kernel_size=2, stride=2)
        self.dec0 = DoubleConv(2 * w0, w0)
        self.head = nn.Conv2d(w0, out_channels, kernel_size=1)

    def _join(self, stage: int, skip: torch.Tensor, up: torch.Tensor) -> torch.Tensor:
        return torch.cat([up, skip] if stage in self.swapped else [skip, up], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s0 = self.enc0(x)
        s1 = self.enc1(F.max_pool2d(s0, 2))
        x = self.bottom(F.max_pool2d(s1, 2))
        x = self.dec1(self._join(1, s1, self.up1(x)))
        x = self.dec0(self._join(0, s0, self.up0(x)))
        return self.head(x)


@exercise("01.fix_unet")
def check_fix_unet(cls: type[nn.Module]) -> None:
    """``cls(in_channels, out_channels, widths)``: the hand-written depth-2 U-Net of the exercise, repaired
    (same layer names: enc0, enc1, bottom, up1, dec1, up0, dec0, head)."""
    for widths in ((8, 16, 32), (8, 8, 8)):
        torch.manual_seed(0)
        model = _call(cls, 1, 1, widths)
        x = torch.randn(2, 1, 16, 16, generator=torch.Generator().manual_seed(1))
        try:
            out = model(x)
        except NotImplementedError:
            raise
        except RuntimeError as err:
            raise AssertionError(
                f"with widths {widths} the forward pass fails: {str(err).splitlines()[0]}. Follow the "
                "channels stage by stage: which up-convolution does each decoder stage call, and which "
                "channels does it expect?") from None
        assert tuple(out.shape) == (2, 1, 16, 16), (
            f"a (2, 1, 16, 16) input should give (2, 1, 16, 16), got {tuple(out.shape)}.")
        out.sum().backward()
        idle = sorted({name.split(".")[0] for name, p in model.named_parameters() if p.grad is None})
        if idle:
            raise AssertionError(
                f"with widths {widths} the network runs, but {', '.join(idle)} never gets a gradient: the "
                "forward pass does not use it, because a stage calls another stage's layer instead (common "
                "bug 4: the last stage reuses up1; it only crashes when the widths differ).")
        reference = _ReferenceUNet(1, 1, widths)
        want = {k: tuple(v.shape) for k, v in reference.state_dict().items()}
        have = {k: tuple(v.shape) for k, v in model.state_dict().items()}
        if have.get("dec0.0.0.weight", (0, 0))[1:2] == (widths[0],):
            raise AssertionError(
                f"dec0 takes {widths[0]} channels: the last stage sees only the upsampled map. Concatenate "
                f"the skip s0 first, torch.cat([s0, up], dim=1), and size dec0 for 2 * w0 = {2 * widths[0]} "
                "channels: without its skip the stage is an encoder-decoder and loses the fine detail "
                "(common bug 5).")
        differences = sorted(set(have.items()) ^ set(want.items()))[:4]
        assert have == want, (
            "the layers differ from the U-Net described (names and shapes): keep enc0, enc1, bottom, up1, "
            f"dec1, up0, dec0 and head as given; differences: {differences}")
        model.load_state_dict(reference.state_dict())
        model.eval(), reference.eval()
        with torch.no_grad():
            out, expected = model(x), reference(x)
            for stages in ((0,), (1,), (0, 1)):
                swapped = _ReferenceUNet(1, 1, widths, swapped=stages)
                swapped.load_state_dict(reference.state_dict())
                if not torch.allclose(out, expected, atol=1e-5) and torch.allclose(out, swapped.eval()(x),
                                                                                    atol=1e-5):
                    raise AssertionError("the skip comes second: the course (and the paper's figure) "
                                         "concatenates [skip, up], the copied encoder map first.")
        assert torch.allclose(out, expected, atol=1e-5), (
            "with the weights of a correct U-Net your output differs. Check each stage: enc0 -> pool -> "
            "enc1 -> pool -> bottom; up1 then cat with s1 -> dec1; up0 then cat with s0 -> dec0; head.")


@exercise("01.skip_concat")
def check_skip_concat(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
    """``fn(skip, up)``: centre-crop ``skip`` to ``up``'s size, concatenate ``[skip, up]`` on channels."""
    g = torch.Generator().manual_seed(1)
    for skip_hw, up_hw, c_skip, c_up in (((8, 8), (8, 8), 3, 2), ((64, 64), (56, 56), 4, 4),
                                         ((17, 20), (12, 16), 2, 5), ((136, 136), (104, 104), 1, 1)):
        skip = torch.randn(2, c_skip, *skip_hw, generator=g)
        up = torch.randn(2, c_up, *up_hw, generator=g)
        out = _call(fn, skip, up)
        assert isinstance(out, torch.Tensor), f"return a tensor, got {type(out).__name__}."
        expected = torch.cat([center_crop(skip, *up_hw), up], dim=1)
        assert tuple(out.shape) == tuple(expected.shape), (
            f"skip {tuple(skip.shape)} and up {tuple(up.shape)} should give {tuple(expected.shape)}, got "
            f"{tuple(out.shape)}. Crop the skip to up's height and width, then torch.cat along dim=1."
        )
        if skip_hw != up_hw and torch.equal(out, torch.cat([skip[..., :up_hw[0], :up_hw[1]], up], dim=1)):
            raise AssertionError("you cropped the top-left corner; crop the centre: start at "
                                 "(H_skip - H_up) // 2 and (W_skip - W_up) // 2.")
        if torch.equal(out, torch.cat([up, center_crop(skip, *up_hw)], dim=1)) and c_skip != c_up:
            raise AssertionError("the channels are in the order [up, skip]; the course (and the paper's "
                                 "figure) puts the copied skip first: torch.cat([skip, up], dim=1).")
        assert torch.equal(out, expected), (
            f"the values differ for skip {tuple(skip.shape)} and up {tuple(up.shape)}: crop the centre "
            "of the skip (top = (H_skip - H_up) // 2, left = (W_skip - W_up) // 2), then cat [skip, up]."
        )


def _up_step_expected(up: nn.Module, conv: nn.Module, x: torch.Tensor, skip: torch.Tensor, *,
                      pad: str = "centre", skip_first: bool = True, fill: str = "constant") -> torch.Tensor:
    """The expanding step with the upsampled map padded to the skip; the options are the usual mistakes."""
    u = up(x)
    dh, dw = skip.shape[-2] - u.shape[-2], skip.shape[-1] - u.shape[-1]
    if pad == "resize":
        u = F.interpolate(u, size=skip.shape[-2:], mode="bilinear", align_corners=False)
    else:
        sides = {"centre": [dw // 2, dw - dw // 2, dh // 2, dh - dh // 2],
                 "after": [0, dw, 0, dh],
                 "larger_first": [dw - dw // 2, dw // 2, dh - dh // 2, dh // 2]}[pad]
        u = F.pad(u, sides, mode=fill)
    return conv(torch.cat([skip, u] if skip_first else [u, skip], dim=1))


def _up_step_layers(step: nn.Module, c_in: int, c_out: int) -> tuple[nn.ConvTranspose2d, list, list]:
    """The step's transposed conv, 3x3 convs and BatchNorms, each checked against the exercise's text."""
    assert isinstance(step, nn.Module), (
        f"UpStep({c_in}, {c_out}) should give an nn.Module, got {type(step).__name__}: pass the class.")
    ups = [m for m in step.modules() if isinstance(m, nn.ConvTranspose2d)]
    convs = [m for m in step.modules() if isinstance(m, nn.Conv2d)]
    norms = [m for m in step.modules() if isinstance(m, nn.BatchNorm2d)]
    if not ups:
        raise AssertionError(
            "there is no nn.ConvTranspose2d: the U-Net's up-convolution is a learnt 2x2 transposed "
            "convolution with stride 2: nn.ConvTranspose2d(in_channels, out_channels, kernel_size=2, "
            "stride=2). nn.Upsample has no weights and keeps the channels.")
    assert len(ups) == 1, f"one up-convolution per step, yours has {len(ups)} nn.ConvTranspose2d layers."
    up = ups[0]
    assert up.kernel_size == (2, 2) and up.stride == (2, 2), (
        f"the up-convolution is 2x2 with stride 2 (it doubles the size), yours has kernel_size "
        f"{up.kernel_size} and stride {up.stride}.")
    assert (up.in_channels, up.out_channels) == (c_in, c_out), (
        f"UpStep({c_in}, {c_out}): the up-convolution maps {c_in} -> {c_out} channels, yours maps "
        f"{up.in_channels} -> {up.out_channels}.")
    assert len(convs) == 2, (
        f"after the concatenation comes a double convolution: 2 nn.Conv2d layers, yours has {len(convs)}. "
        "Use cl.blocks.DoubleConv or your double_conv of exercise 1.")
    if convs[0].in_channels == c_out:
        raise AssertionError(
            f"the double convolution takes {c_out} channels, only the upsampled map's. After the "
            f"concatenation it receives the skip's {c_out} channels plus the upsampled map's {c_out}: "
            f"DoubleConv(2 * out_channels, out_channels) (common bug 5 is the step without its skip).")
    got = [(c.in_channels, c.out_channels) for c in convs]
    assert got == [(2 * c_out, c_out), (c_out, c_out)], (
        f"UpStep({c_in}, {c_out}): the double convolution should map {2 * c_out} -> {c_out} -> {c_out} "
        f"channels, yours maps {got[0][0]} -> {got[0][1]} -> {got[1][1]}.")
    assert all(c.kernel_size == (3, 3) and c.padding == (1, 1) for c in convs), (
        "the double convolution's layers are 3x3 with padding 1 (the padded U-Net of this chapter).")
    assert len(norms) == 2, (
        f"the course's double convolution has a BatchNorm2d after each conv: 2 in all, yours has "
        f"{len(norms)} (cl.blocks.DoubleConv(2 * out_channels, out_channels) has them).")
    return up, convs, norms


def _load_reference(step: nn.Module, reference: nn.Module, c_in: int, c_out: int, seed: int) -> None:
    """Random weights and BatchNorm statistics in ``reference``, copied layer by layer into ``step``."""
    g = torch.Generator().manual_seed(seed)
    ref_up, ref_convs, ref_norms = _up_step_layers(reference, c_in, c_out)
    up, convs, norms = _up_step_layers(step, c_in, c_out)
    with torch.no_grad():
        for p in reference.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
        for n in ref_norms:
            n.running_mean.copy_(torch.randn(n.running_mean.shape, generator=g) * 0.2)
            n.running_var.copy_(torch.rand(n.running_var.shape, generator=g) + 0.5)
        for mine, theirs in zip([up, *convs], [ref_up, *ref_convs], strict=True):
            mine.weight.copy_(theirs.weight)
            if mine.bias is not None and theirs.bias is not None:
                mine.bias.copy_(theirs.bias)
            elif mine.bias is not None:
                mine.bias.zero_()  # a conv bias before BatchNorm: harmless here, zero it
            elif theirs.bias is not None:
                theirs.bias.zero_()  # an up-convolution without bias: compare without it
        for mine, theirs in zip(norms, ref_norms, strict=True):
            for name in ("weight", "bias", "running_mean", "running_var"):
                if getattr(mine, name) is not None:
                    getattr(mine, name).copy_(getattr(theirs, name))
    step.eval(), reference.eval()


class _ReferenceUpStep(nn.Module):
    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(in_channels, out_channels, kernel_size=2, stride=2)
        self.conv = DoubleConv(2 * out_channels, out_channels)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return _up_step_expected(self.up, self.conv, x, skip)


_UP_STEP_CASES = (  # (in, out), x's height and width, the skip's (0, 1 or 3 pixels more than 2x)
    ((8, 4), (4, 4), (8, 8)),
    ((8, 4), (4, 5), (9, 11)),
    ((10, 3), (3, 3), (9, 9)),
    ((10, 3), (3, 4), (7, 11)),
)


@exercise("01.up_step")
def check_up_step(cls: Callable[[int, int], nn.Module]) -> None:
    """``cls(in_channels, out_channels)``: U-Net's expanding step, ``forward(x, skip)``: a 2x2 transposed conv
    (stride 2) ``in -> out``, the upsampled map zero-padded to the skip's size (``d // 2`` before, the rest
    after, on each axis), ``[skip, up]`` concatenated, a double conv ``2 * out -> out``."""
    steps: dict[tuple[int, int], nn.Module] = {}
    for k, ((c_in, c_out), x_hw, skip_hw) in enumerate(_UP_STEP_CASES):
        if (c_in, c_out) not in steps:
            step = _call(cls, c_in, c_out)
            reference = _ReferenceUpStep(c_in, c_out)
            _load_reference(step, reference, c_in, c_out, seed=c_in)
            steps[c_in, c_out] = step, reference
        step, reference = steps[c_in, c_out]
        gen = torch.Generator().manual_seed(20 + k)
        n = 2 if k < 2 else 1
        x = torch.randn(n, c_in, *x_hw, generator=gen)
        skip = torch.randn(n, c_out, *skip_hw, generator=gen)
        up_hw = (2 * x_hw[0], 2 * x_hw[1])
        dh, dw = skip_hw[0] - up_hw[0], skip_hw[1] - up_hw[1]
        where = f"x {tuple(x.shape)} (upsampled to {up_hw[0]}x{up_hw[1]}) and skip {tuple(skip.shape)}"
        with torch.no_grad():
            try:
                out = _call(step, x, skip)
            except AssertionError as err:
                if ("must match" not in str(err) and "Sizes of tensors" not in str(err)) or k == 0:
                    raise
                if dh != dw:
                    raise AssertionError(
                        f"{where}: the sizes do not fit, although equal differences on both axes worked. "
                        "F.pad's list starts with the LAST axis: [left, right, top, bottom], so the width's "
                        "padding comes first.") from None
                raise AssertionError(
                    f"{where}: torch.cat needs equal heights and widths. Zero-pad the upsampled map to the "
                    "skip's size with F.pad(up, [left, right, top, bottom]) before concatenating.") from None
            expected = reference(x, skip)
            if not isinstance(out, torch.Tensor):
                raise AssertionError(f"forward returns a tensor, got {type(out).__name__}.")
            want = (n, c_out, *skip_hw)
            if tuple(out.shape) != want:
                if tuple(out.shape[-2:]) == up_hw:
                    raise AssertionError(
                        f"{where}: your output is {up_hw[0]}x{up_hw[1]}, the upsampled map's size: the skip "
                        "was cropped (UpConcat's way, for the valid convolutions of chapter 02), which "
                        "throws away its outer pixels. Here pad the upsampled map to the skip's "
                        f"{skip_hw[0]}x{skip_hw[1]} instead: no pixel of the skip is lost, and the output "
                        "keeps the skip's size.")
                raise AssertionError(f"{where}: the output should have shape {want}, got {tuple(out.shape)}.")
            mistakes = {
                "the channels are in the order [up, skip]; the course (and the paper's figure) puts the "
                "copied skip first: torch.cat([skip, up], dim=1)": {"skip_first": False},
                "all the padding went after the map (right and bottom); centre it: d // 2 before, the rest "
                "after, where center_crop would cut": {"pad": "after"},
                "the larger half of the padding went before; put d // 2 before (rounded down) and the rest "
                "after, where center_crop would cut": {"pad": "larger_first"},
                "the upsampled map was resized (interpolated) to the skip's size; pad it with zeros instead, "
                "so that its pixels stay aligned with the skip's": {"pad": "resize"},
                "the padding copies border values; pad with zeros (F.pad's default mode='constant')":
                    {"fill": "replicate"},
                "the padding mirrors the map; pad with zeros (F.pad's default mode='constant')":
                    {"fill": "reflect"},
            }
            if not torch.allclose(out, expected, atol=1e-4):
                for hint, options in mistakes.items():
                    try:
                        variant = _up_step_expected(reference.up, reference.conv, x, skip, **options)
                    except RuntimeError:  # e.g. reflect padding wider than the map
                        continue
                    if torch.allclose(out, variant, atol=1e-4):
                        raise AssertionError(f"{where}: {hint}.")
                raise AssertionError(
                    f"{where}: with the same weights as a correct step your output differs. The order is: "
                    "up-convolution, zero-pad to the skip's size (d // 2 before, the rest after, on each "
                    "axis), torch.cat([skip, up], dim=1), double convolution.")
