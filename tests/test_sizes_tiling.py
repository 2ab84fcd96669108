"""Valid-size arithmetic (16k + 12), mirror padding, overlap-tile / sliding-window / naive tiling."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn

import course_lib as cl
from course_lib import sizes
from course_lib.data import tiling

TINY = (4, 8, 16, 32, 64)


def _brute_force(model: nn.Module, size: int) -> int | None:
    """Output side for a square input if the network runs with every max-pool on an even size, else None."""
    odd = []
    hooks = [m.register_forward_pre_hook(lambda _m, args: odd.append(args[0].shape[-1] % 2))
             for m in model.modules() if isinstance(m, nn.MaxPool2d)]
    try:
        with torch.no_grad():
            out = model.forward_unchecked(torch.zeros(1, 1, size, size))
    except RuntimeError:  # a map shrank below the kernel size
        return None
    finally:
        for h in hooks:
            h.remove()
    return None if any(odd) else out.shape[-1]


@pytest.mark.parametrize(("padding", "widths", "sizes_range"), [
    ("valid", (1, 2, 2, 2, 2), range(150, 260)),
    ("valid", (1, 2, 2), range(1, 90)),
    ("same", (1, 2, 2, 2), range(1, 50)),
])
def test_valid_sizes_agree_with_brute_force_forward(padding: str, widths: tuple, sizes_range: range) -> None:
    model = cl.models.UNet(1, 1, widths, batch_norm=False, padding=padding).eval()
    padded, depth = padding == "same", len(widths) - 1
    valid = set(sizes.valid_input_sizes(depth, max_size=sizes_range[-1], padded=padded))
    for n in sizes_range:
        out = _brute_force(model, n)
        assert (out is not None) == (n in valid), n
        if out is not None:
            assert out == sizes.output_size(n, depth, padded)


def test_the_16k_plus_12_family() -> None:
    valid = sizes.valid_input_sizes()
    assert valid[:3] == [188, 204, 220] and valid[-1] == 1020
    assert all(n % 16 == 12 for n in valid) and 572 in valid
    assert sizes.smallest_valid_input() == 188 and sizes.output_size(188) == 4
    assert sizes.output_size(572) == 388 and sizes.context_margin() == 92
    assert sizes.valid_input_sizes(max_size=600, min_size=560) == [572, 588]
    assert sizes.valid_input_sizes(padded=True, max_size=64) == [16, 32, 48, 64]
    assert sizes.context_margin(padded=True) == 0
    # generic in depth; depth 2: 44 -> 40 -> 20 -> 16 -> 8 -> 4 -> (up) 8 -> 4 -> (up) 8 -> 4
    assert sizes.valid_input_sizes(depth=2, max_size=60) == [44, 48, 52, 56, 60]
    assert sizes.output_size(44, depth=2) == 4 and sizes.context_margin(depth=2) == 20


def test_invalid_size_names_nearest_valid_sizes() -> None:
    with pytest.raises(ValueError, match="nearest valid sizes: 556 and 572") as err:
        sizes.check_valid_input(570)
    assert "encoder.2 would max-pool an odd size" in str(err.value)
    with pytest.raises(ValueError, match="smallest valid size is 188"):
        sizes.check_valid_input(100)
    with pytest.raises(ValueError, match="nearest valid sizes: 32 and 48"):
        sizes.check_valid_input(40, padded=True)
    assert sizes.nearest_valid_sizes(572) == (572, 572)


def test_layer_sizes_walk_matches_the_paper_and_the_model() -> None:
    rows = sizes.layer_sizes(572)
    assert rows[0] == ("input", 572, 1) and rows[-1] == ("head", 388, 2)
    assert sum("conv" in r.name for r in rows) == 18
    by_name = {r.name: r for r in rows}
    assert by_name["bottleneck conv2"][1:3] == (28, 1024)
    assert sizes.skip_crops(572) == {0: (568, 392), 1: (280, 200), 2: (136, 104), 3: (64, 56)}
    assert all(before == after for before, after in sizes.skip_crops(64, padded=True).values())
    # the walk agrees with the feature maps of a real model (valid and padded)
    for padding, n in (("valid", 188), ("same", 48)):
        model = cl.models.UNet(1, 2, TINY, padding=padding, batch_norm=False).eval()
        with torch.no_grad():
            maps = model.feature_maps(torch.zeros(1, 1, n, n))
        walk = {r.name: r for r in sizes.layer_sizes(n, padded=padding == "same", widths=TINY)}
        for name, fmap in maps.items():
            row = walk[name if name == "head" else f"{name} conv2"]
            assert fmap.shape[1:] == (row.channels, row.size, row.size), name


def test_mirror_pad_matches_numpy_reflect_even_beyond_the_image() -> None:
    x = torch.arange(2 * 5 * 7, dtype=torch.float32).reshape(2, 5, 7)
    out = sizes.mirror_pad(x, 3, 12, 0, 9)
    ref = np.pad(x.numpy(), ((0, 0), (3, 12), (0, 9)), mode="reflect")
    np.testing.assert_array_equal(out.numpy(), ref)
    assert sizes.mirror_pad(torch.ones(1, 1, 4), 2, 2, 1, 1).shape == (1, 5, 6)  # 1-px side: replicate


@pytest.fixture(scope="module")
def valid_net() -> nn.Module:
    torch.manual_seed(0)
    return cl.create_model("unet_original", widths=TINY).eval()


def test_overlap_tile_equals_one_pass_over_the_mirrored_image(valid_net: nn.Module) -> None:
    image = torch.rand(1, 100, 120)
    out = tiling.overlap_tile_predict(valid_net, image, tile_output=64, batch_size=3)
    assert out.shape == (2, 100, 120)
    # tiles: 64-px strides, 252-px input tiles (smallest valid >= 64 + 2 * 92); 2 x 2 of them
    total = 64 + 252
    whole_input = sizes.mirror_pad(image[None], 92, total - 100 - 92, 92, total - 120 - 92)
    with torch.no_grad():
        whole = valid_net(whole_input)[0, :, :100, :120]
    torch.testing.assert_close(out, whole, atol=1e-5, rtol=1e-5)
    # ... and a pad_input=True model (one pass with its own mirroring) agrees
    padded_model = cl.create_model("unet_original", widths=TINY, pad_input=True).eval()
    padded_model.load_state_dict(valid_net.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(padded_model(image[None])[0], out, atol=1e-4, rtol=1e-4)


def test_naive_tiling_leaves_seams_overlap_tile_does_not(valid_net: nn.Module) -> None:
    image = torch.rand(2, 1, 96, 96)  # a batch, as NumPy
    whole = tiling.overlap_tile_predict(valid_net, image.numpy(), tile_output=512)  # a single tile
    tiled = tiling.overlap_tile_predict(valid_net, image.numpy(), tile_output=48)
    naive = tiling.naive_tile_predict(valid_net, image, tile=48)
    assert naive.shape == tiled.shape == whole.shape == (2, 2, 96, 96)
    assert tiling.seam_error(tiled, whole, 48).max < 1e-4
    err = tiling.seam_error(naive, whole, 48)
    assert err.seam > 1e-2 and err.seam > 1.5 * err.interior


@pytest.fixture(scope="module")
def padded_net() -> nn.Module:
    torch.manual_seed(0)
    return cl.create_model("unet", widths=TINY).eval()


def test_padded_net_seams_and_sliding_window_blending(padded_net: nn.Module) -> None:
    image = torch.rand(1, 128, 128)
    with torch.no_grad():
        whole = padded_net(image[None])[0]
    naive = tiling.seam_error(tiling.naive_tile_predict(padded_net, image, 64), whole, 64)
    assert naive.seam > 10 * naive.interior > 0
    gauss = tiling.sliding_window_predict(padded_net, image, 64, overlap=0.5, blend="gaussian")
    mean = tiling.sliding_window_predict(padded_net, image, 64, overlap=0.5, blend="mean")
    assert gauss.shape == mean.shape == whole.shape
    assert tiling.seam_error(gauss, whole, 64).max < tiling.seam_error(mean, whole, 64).max < naive.max


def test_overlap_tile_with_a_margin_hides_a_padded_nets_seams(padded_net: nn.Module,
                                                               valid_net: nn.Module) -> None:
    image = torch.rand(1, 128, 128)
    with torch.no_grad():
        whole = padded_net(image[None])[0]
    naive = tiling.seam_error(tiling.overlap_tile_predict(padded_net, image, 64), whole, 64)  # margin 0
    halo = tiling.seam_error(tiling.overlap_tile_predict(padded_net, image, 64, margin=32), whole, 64)
    assert naive == tiling.seam_error(tiling.naive_tile_predict(padded_net, image, 64), whole, 64)
    assert halo.seam < 0.3 * naive.seam and halo.max < naive.max
    # a valid net: 16 px more context per side changes nothing (the pooling grid keeps its phase)
    small = torch.rand(1, 70, 90)
    torch.testing.assert_close(tiling.overlap_tile_predict(valid_net, small, 48, margin=108),
                               tiling.overlap_tile_predict(valid_net, small, 48), atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="margin >= 92"):
        tiling.overlap_tile_predict(valid_net, small, 48, margin=40)


def test_sliding_window_blends_a_convolution_exactly() -> None:
    conv = nn.Conv2d(1, 2, kernel_size=1)  # translation-equivariant, no border effects: any blend is exact
    image = torch.rand(1, 70, 90)
    expected = conv(image[None])[0].detach()
    for blend in ("gaussian", "mean"):
        for overlap in (0.0, 0.25, 0.5):
            out = tiling.sliding_window_predict(conv, image, (32, 48), overlap=overlap, blend=blend)
            torch.testing.assert_close(out, expected)
    small = tiling.sliding_window_predict(conv, image[:, :20, :30], 32)  # smaller than the window
    torch.testing.assert_close(small, expected[:, :20, :30])
    weight = tiling.gaussian_window(64, 48)
    assert weight.max().item() == 1.0 and weight.min().item() > 0
    assert torch.equal(weight, weight.flip(0)) and torch.equal(weight, weight.flip(1))


def test_tiling_restores_model_mode_and_rejects_bad_arguments(padded_net: nn.Module) -> None:
    padded_net.train()
    tiling.sliding_window_predict(padded_net, torch.rand(1, 32, 32), 32)
    assert padded_net.training
    padded_net.eval()
    with pytest.raises(ValueError, match="overlap"):
        tiling.sliding_window_predict(padded_net, torch.rand(1, 32, 32), 32, overlap=1.0)
    with pytest.raises(ValueError, match="channel dimension"):
        tiling.naive_tile_predict(padded_net, torch.rand(32, 32), 16)
    with pytest.raises(ValueError, match="overlap_tile_predict"):
        tiling.sliding_window_predict(cl.create_model("unet_original", widths=TINY, pad_input=False),
                                      torch.rand(1, 300, 300), 252)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_tiling_runs_the_model_on_its_device(padded_net: nn.Module) -> None:
    image = torch.rand(1, 80, 72)
    cpu = tiling.sliding_window_predict(padded_net, image, 32)
    gpu_net = cl.create_model("unet", widths=TINY).cuda().eval()
    gpu_net.load_state_dict(padded_net.state_dict())
    out = tiling.sliding_window_predict(gpu_net, image, 32)
    assert out.device == image.device
    torch.testing.assert_close(out, cpu, atol=1e-3, rtol=1e-3)
    assert tiling.naive_tile_predict(gpu_net, image.cuda(), 32).device.type == "cuda"


def test_seam_contrast_sees_tile_borders_without_a_reference(padded_net: nn.Module,
                                                             valid_net: nn.Module) -> None:
    torch.manual_seed(1)
    smooth = torch.rand(96, 96)
    flat = tiling.seam_contrast(smooth, 32)
    assert 0.8 < flat.ratio < 1.25  # a map without seams: borders look like anywhere else
    stepped = smooth.clone()
    stepped[:, 32:64] += 1.0  # a jump at the borders between tile columns
    seam = tiling.seam_contrast(stepped, 32)
    assert seam.ratio > 1.7 and seam.border > flat.border and seam.elsewhere == pytest.approx(flat.elsewhere,
                                                                                             rel=0.05)
    image = torch.rand(1, 128, 128)
    padded_tiles = tiling.overlap_tile_predict(padded_net, image, 32)  # margin 0: each tile alone
    valid_tiles = tiling.overlap_tile_predict(valid_net, image, 32)  # 92-px margin: seamless
    assert tiling.seam_contrast(padded_tiles, 32).ratio > 1.5 * tiling.seam_contrast(valid_tiles, 32).ratio
    with pytest.raises(ValueError, match="no inner border"):
        tiling.seam_contrast(torch.zeros(32, 32), 32)
