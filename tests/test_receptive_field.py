"""Receptive fields: the analytic table, the exact footprint, and the effective receptive field.

Relationships checked: for a sequential stack of convs/pools (any stride, dilation, padding) the
analytic box equals the footprint's bounding box for an output pixel whose box lies in the image;
the footprint is smaller when padding clips it and has holes when dilations grid; U-Net skips make
the footprint depend on the pixel (188 or 204 px for the original U-Net).
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn

import course_lib as cl
from course_lib.blocks import SEBlock
from course_lib.receptive_field import (
    analytic,
    bounding_box,
    conv_stack,
    effective_receptive_field,
    erf_summary,
    footprint,
    rf_box,
)


def side(mask: torch.Tensor) -> tuple[int, int]:
    top, left, bottom, right = bounding_box(mask)
    return bottom - top + 1, right - left + 1


STACKS = {
    "vgg": [(3, 1, 1, 1), (3, 1, 1, 1), (2, 2, 1, 0), (3, 1, 1, 1), (3, 1, 1, 1), (2, 2, 1, 0)],
    "strided_dilated": [(3, 1, 1, 0), (3, 2, 2, 2), (5, 1, 3, 0), (2, 2, 1, 0), (3, 1, 2, 2)],
    "valid_pools": [(5, 2, 1, 0), (3, 3, 1, 1), (4, 1, 1, 0), (3, 1, 1, 0)],
}


def build(spec: list[tuple[int, int, int, int]]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for index, (k, s, d, p) in enumerate(spec):
        if index % 3 == 2 and d == 1:
            layers.append(nn.MaxPool2d(k, stride=s, padding=min(p, k // 2)))
        else:
            layers += [nn.Conv2d(1, 1, k, stride=s, padding=p, dilation=d), nn.ReLU()]
    return nn.Sequential(*layers)


def test_analytic_table_by_hand() -> None:
    rows = analytic(STACKS["vgg"], input_size=64)
    assert [r.rf for r in rows] == [3, 5, 6, 10, 14, 16]
    assert [r.jump for r in rows] == [1, 1, 2, 2, 2, 4]
    assert [r.size for r in rows] == [64, 64, 32, 32, 32, 16]
    assert rows[-1].start == 1.5  # output pixel 0 is centred between input pixels 1 and 2
    # Araujo et al.'s closed form: r0 = sum_l (k_l - 1) prod_{i<l} s_i + 1 with k -> d (k - 1) + 1.
    for spec in STACKS.values():
        closed = 1 + sum((d * (k - 1)) * math.prod(s for _, s, _, _ in spec[:i]) for i, (k, _, d, _) in
                         enumerate(spec))
        assert analytic(spec)[-1].rf == closed


@pytest.mark.parametrize("name", sorted(STACKS))
def test_analytic_equals_footprint_for_stacks(name: str) -> None:
    model = build(STACKS[name])
    size = 96
    table = analytic(model, input_size=size)
    out = model(torch.zeros(1, 1, size, size))
    assert out.shape[-2:] == (table[-1].size, table[-1].size)
    last = table[-1]
    for pixel in [(last.size // 2, last.size // 2), (last.size // 2 + 1, last.size // 2 - 1)]:
        top, left, bottom, right = rf_box(table, pixel)
        assert top >= 0 and bottom < size  # fully inside the image: no clipping
        mask = footprint(model, (1, size, size), pixel)
        assert bounding_box(mask) == (top, left, bottom, right)
        assert side(mask) == (last.rf, last.rf)


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("dilation", [1, 2, 3])
@pytest.mark.parametrize("kernel", [1, 2, 3, 5])
def test_analytic_equals_footprint_on_a_grid(kernel: int, dilation: int, stride: int) -> None:
    """Three equal layers (valid padding), every combination: box, size and pixel count agree."""
    model = nn.Sequential(*(nn.Conv2d(1, 1, kernel, stride=stride, dilation=dilation) for _ in range(3)))
    size = 100
    table = analytic(model, input_size=size)
    assert model(torch.zeros(1, 1, size, size)).shape[-1] == table[-1].size
    pixel = (table[-1].size // 2, table[-1].size - 1)
    mask = footprint(model, (1, size, size), pixel)
    assert bounding_box(mask) == rf_box(table, pixel)
    assert side(mask) == (table[-1].rf,) * 2
    # Seen pixels per axis: sums of one offset per layer; gaps when the dilation outruns the layers below.
    offsets = {0}
    for layer in range(3):
        offsets = {o + t * dilation * stride**layer for o in offsets for t in range(kernel)}
    assert mask.sum() == len(offsets) ** 2


def test_conv_stack_geometry() -> None:
    stack = conv_stack(3, 2, 3)
    assert [m.dilation for m in stack if isinstance(m, nn.Conv2d)] == [(2, 2)] * 3
    assert analytic(stack)[-1].rf == 13
    pooled = conv_stack(3, (1, 2, 5), downsample="maxpool", every=2, channels=4)
    assert sum(isinstance(m, nn.MaxPool2d) for m in pooled) == 1
    assert pooled(torch.zeros(1, 4, 32, 32)).shape == (1, 4, 16, 16)
    assert [r.jump for r in analytic(conv_stack(3, 1, 4, downsample="stride", every=2))] == [1, 2, 2, 4]
    with pytest.raises(ValueError, match="dilation rates"):
        conv_stack(3, (1, 2), layers=3)
    with pytest.raises(ValueError, match="downsample"):
        conv_stack(3, 1, 2, downsample="avgpool")


def test_erf_summary() -> None:
    rows, cols = torch.meshgrid(torch.arange(61.0), torch.arange(61.0), indexing="ij")
    gauss = torch.exp(-((rows - 30) ** 2 + (cols - 30) ** 2) / (2 * 4.0**2))
    stats = erf_summary(gauss)
    assert stats["std"] == pytest.approx(4.0, rel=1e-3)
    # a 2-D Gaussian holds mass m inside radius sigma * sqrt(-2 ln(1 - m))
    assert stats["area50"] == pytest.approx(math.pi * 16 * 2 * math.log(2), rel=0.05)
    assert stats["area90"] == pytest.approx(math.pi * 16 * 2 * math.log(10), rel=0.05)
    assert stats["side90"] == pytest.approx(stats["area90"] ** 0.5)
    point = torch.zeros(9, 9)
    point[4, 4] = 3.0
    assert erf_summary(point) == {"area50": 1.0, "area90": 1.0, "side90": 1.0, "std": 0.0}
    with pytest.raises(ValueError, match="non-negative"):
        erf_summary(-gauss)


def test_padding_clips_the_footprint_at_the_border() -> None:
    model = build(STACKS["vgg"])
    mask = footprint(model, (1, 64, 64), (0, 0))
    assert bounding_box(mask)[:2] == (0, 0)
    assert side(mask) == (10, 10)  # the analytic 16 minus the 6 px that fall off the image
    assert rf_box(analytic(model), (0, 0)) == (-6.0, -6.0, 9.0, 9.0)


def test_gridding_leaves_holes() -> None:
    def dilated(rates: tuple[int, ...]) -> nn.Sequential:
        return nn.Sequential(*(nn.Conv2d(1, 1, 3, dilation=d, padding=d) for d in rates))

    gridded = footprint(dilated((2, 2, 2)), (1, 41, 41))
    assert side(gridded) == (13, 13) == (analytic(dilated((2, 2, 2)))[-1].rf,) * 2
    assert gridded.sum() == 49  # only every other pixel: a 7x7 lattice inside the 13x13 box
    hybrid = footprint(dilated((1, 2, 5)), (1, 41, 41))  # rates without a common factor
    assert side(hybrid) == (17, 17) and hybrid.sum() == 17 * 17


def test_max_pool_window_is_fully_connected() -> None:
    model = nn.Sequential(nn.MaxPool2d(2), nn.Conv2d(1, 1, 3, padding=1))
    assert footprint(model, (1, 16, 16), (4, 4)).sum() == 36


def test_original_unet_footprint_is_188_or_204() -> None:
    """Connectivity depends neither on width nor on the other axis, so a 1-channel-wide original U-Net
    on 572x188 (the smallest valid width) gives the row extents of the 572x572 case cheaply."""
    if "unet_original" not in cl.list_models():
        pytest.skip("create_model('unet_original') is not registered yet")
    model = cl.create_model("unet_original", widths=(1, 1, 1, 1, 1))
    heights = []
    for i in range(16):  # one period of the 16-pixel bottleneck grid
        mask = footprint(model, (1, 572, 188), (100 + i, 2))
        top, left, bottom, right = bounding_box(mask)
        assert mask[top:bottom + 1, left:right + 1].all()  # a full rectangle: no holes
        heights.append(side(mask)[0])
    assert heights == [204] * 12 + [188] * 4
    assert side(footprint(model, (1, 572, 572), (111, 112))) == (204, 188)
    corner = footprint(model, (1, 572, 572), (0, 0))
    assert bounding_box(corner)[:2] == (0, 0) and max(side(corner)) <= 204  # valid convs: no clipping


def test_padded_unet_footprint() -> None:
    if "unet" not in cl.list_models():
        pytest.skip("create_model('unet') is not registered yet")
    model = cl.create_model("unet", widths=(1, 1, 1, 1, 1), pad_input=False)
    centre = footprint(model, (1, 256, 256), (128, 128))
    assert side(centre) in {(188, 188), (204, 204)}
    corner = footprint(model, (1, 256, 256), (0, 0))
    assert bounding_box(corner)[:2] == (0, 0) and side(corner)[0] < 188  # clipped by the padding


def test_se_makes_the_footprint_global() -> None:
    model = cl.create_model("dacrse_unet", widths=(1, 1, 1, 1), reduction=1)
    assert footprint(model, (3, 64, 64), (0, 0)).all()  # global average pooling reaches every pixel
    local = footprint(model, (3, 256, 256), identity_for=(SEBlock,))
    assert not local.all() and side(local) == (238, 238)


def test_footprint_errors() -> None:
    conv = nn.Conv2d(1, 1, 3)
    with pytest.raises(ValueError, match="outside"):
        footprint(conv, (1, 8, 8), (6, 0))
    with pytest.raises(ValueError, match="input_shape"):
        footprint(conv, (8, 8), (0, 0))
    with pytest.raises(ValueError, match="footprint"):
        analytic(cl.blocks.DACBlock(2))


def test_effective_receptive_field() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(),
                          *(m for _ in range(3) for m in (nn.Conv2d(8, 8, 3, padding=1), nn.Tanh())))
    model.train()
    heat = effective_receptive_field(model, input_shape=(1, 33, 33), samples=8)
    assert model.training  # mode restored
    assert heat.shape == (33, 33)
    assert heat.sum().item() == pytest.approx(1.0, abs=1e-5) and (heat >= 0).all()
    assert ((heat > 0) <= footprint(model, (1, 33, 33))).all()  # the ERF lies inside the footprint
    peak = divmod(int(heat.argmax()), 33)
    assert abs(peak[0] - 16) <= 2 and abs(peak[1] - 16) <= 2
    images = torch.rand(3, 1, 33, 33)
    peak_one = effective_receptive_field(model, images, pixel=(5, 5), normalize="max")
    assert peak_one.max().item() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="normalize"):
        effective_receptive_field(model, images, normalize="l2")
