"""The course's padded U-Net and the original valid-convolution U-Net (one class, two configurations)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn

import course_lib as cl
from course_lib.blocks.conv import UpConcat
from course_lib.init import incoming_nodes
from course_lib.sizes import mirror_pad

SMALL = (8, 16, 32, 64, 128)


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.fixture(scope="module")
def original() -> nn.Module:
    torch.manual_seed(0)
    return cl.create_model("unet_original")


def test_registered() -> None:
    assert {"unet", "unet_original"} <= set(cl.list_models())


def test_padded_unet_parameter_count_matches_unetpp_paper_baseline() -> None:
    model = cl.create_model("unet", in_channels=1, out_channels=1, widths=(32, 64, 128, 256, 512),
                            batch_norm=False)
    assert n_params(model) == 7_759_521
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())


def test_original_parameter_count_and_23_conv_layers(original: nn.Module) -> None:
    assert n_params(original) == 31_030_658
    convs = [m for m in original.modules() if isinstance(m, nn.Conv2d)]
    upconvs = [m for m in original.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert (len(convs), len(upconvs)) == (19, 4)  # 18 in double convs + the 1x1 head; 4 up-convs
    assert all(c.padding == (0, 0) for c in convs)
    assert all(u.kernel_size == (2, 2) and u.stride == (2, 2) for u in upconvs)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in original.modules())
    assert original.head.out_channels == 2 and original.encoder[0][0][0].in_channels == 1


def test_he_initialisation_std(original: nn.Module) -> None:
    conv = original.encoder[1][1][0][0]  # the first 3x3 conv of level 1: 64 -> 128 channels
    assert incoming_nodes(conv) == 9 * 64
    assert conv.weight.std().item() == pytest.approx(math.sqrt(2 / 576), rel=0.02)
    assert conv.weight.mean().abs().item() < 0.002
    up = original.decoder[3].up  # 2x2 stride-2 up-conv 1024 -> 512: one tap per output pixel
    assert incoming_nodes(up) == 1024
    assert up.weight.std().item() == pytest.approx(math.sqrt(2 / 1024), rel=0.02)
    assert all(m.bias.abs().max().item() == 0 for m in original.modules() if isinstance(m, nn.Conv2d))
    # the padded U-Net keeps PyTorch's default unless asked
    default = cl.create_model("unet", widths=SMALL).encoder[1][1][0][0]
    assert default.weight.std().item() < 0.5 * math.sqrt(2 / incoming_nodes(default))


def test_original_572_to_388_with_small_widths() -> None:
    model = cl.create_model("unet_original", widths=(4, 8, 16, 32, 64)).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 1, 572, 572))
    assert out.shape == (1, 2, 388, 388)
    assert model.check_input_size(572, 572) == (388, 388)
    assert model.context_margin == 92


def test_original_rejects_invalid_size_naming_nearest() -> None:
    model = cl.create_model("unet_original", widths=(4, 8, 16, 32, 64))
    with pytest.raises(ValueError, match="nearest valid sizes: 556 and 572"):
        model(torch.zeros(1, 1, 570, 572))
    with pytest.raises(ValueError, match="smallest valid size is 188"):
        model.check_input_size(572, 100)


def test_original_pad_input_returns_input_size() -> None:
    model = cl.create_model("unet_original", widths=(4, 8, 16, 32, 64), pad_input=True).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 1, 45, 70))
    assert out.shape == (2, 2, 45, 70)


def test_padded_unet_pads_and_crops_odd_sizes() -> None:
    torch.manual_seed(0)
    model = cl.create_model("unet", widths=SMALL).eval()
    x = torch.randn(2, 1, 37, 50)
    with torch.no_grad():
        out = model(x)
        reference = model.forward_unchecked(mirror_pad(x, 0, 48 - 37, 0, 64 - 50))[..., :37, :50]
    assert out.shape == (2, 1, 37, 50)
    assert torch.equal(out, reference)
    assert model.check_input_size(37, 50) == (37, 50)


def test_padded_unet_without_pad_input_rejects_clearly() -> None:
    model = cl.create_model("unet", widths=SMALL, pad_input=False)
    assert model.check_input_size(64, 48) == (64, 48)
    with pytest.raises(ValueError, match=r"nearest valid sizes: 32 and 48.*pad_input=True"):
        model(torch.zeros(1, 1, 64, 37))


def test_input_errors_are_clear() -> None:
    model = cl.create_model("unet", widths=SMALL, in_channels=3)
    with pytest.raises(ValueError, match="3 input channel"):
        model(torch.zeros(1, 1, 32, 32))
    with pytest.raises(ValueError, match=r"unsqueeze\(0\)"):
        model(torch.zeros(3, 32, 32))
    with pytest.raises(ValueError, match="up="):
        cl.create_model("unet", up="nearest")


def test_skip_false_is_an_encoder_decoder_with_the_same_widths() -> None:
    widths = (32, 64, 128, 256, 512)
    with_skips = cl.create_model("unet", widths=widths, batch_norm=False)
    without = cl.create_model("unet", widths=widths, batch_norm=False, skip=False)
    assert n_params(with_skips) - n_params(without) == 9 * sum(w * w for w in widths[:-1]) == 783_360
    assert not any(isinstance(m, UpConcat) for m in without.modules())
    small = cl.create_model("unet", widths=SMALL, skip=False).eval()
    with torch.no_grad():
        assert small(torch.randn(1, 1, 40, 40)).shape == (1, 1, 40, 40)


def test_bilinear_up_and_feature_maps_per_level() -> None:
    model = cl.create_model("unet", widths=SMALL, up="bilinear", out_channels=3).eval()
    names = model.feature_names()
    assert names[0] == "encoder.0" and names[4] == "bottleneck" and names[-1] == "head"
    modules = dict(model.named_modules())
    assert all(name in modules for name in names)
    with torch.no_grad():
        maps = model.feature_maps(torch.randn(1, 1, 64, 64))
    assert list(maps) == names
    for i in range(4):
        assert maps[f"encoder.{i}"].shape == (1, SMALL[i], 64 >> i, 64 >> i)
        assert maps[f"decoder.{i}"].shape == maps[f"encoder.{i}"].shape
    assert maps["bottleneck"].shape == (1, 128, 4, 4)
    assert maps["head"].shape == (1, 3, 64, 64)


def test_depth_follows_widths_and_is_deterministic() -> None:
    torch.manual_seed(1)
    a = cl.create_model("unet", widths=(4, 8, 16))
    torch.manual_seed(1)
    b = cl.create_model("unet", widths=(4, 8, 16))
    assert a.depth == 2 and len(a.encoder) == 2 and len(a.decoder) == 2
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    assert a.valid_input_sizes(40) == [4, 8, 12, 16, 20, 24, 28, 32, 36, 40]


def test_regularizer_is_additive_and_default_free() -> None:
    """Chapter 03: a regulariser after each level's double conv; None (default) is the plain U-Net."""
    torch.manual_seed(2)
    plain = cl.create_model("unet", widths=SMALL)
    torch.manual_seed(2)
    reg = cl.create_model("unet", widths=SMALL, regularizer=lambda level, c: cl.blocks.DropBlock2d(0.5, 3))
    assert plain.regularizers is None and "regularize" not in plain.config
    assert n_params(reg) == n_params(plain)
    assert list(reg.state_dict()) == list(plain.state_dict())  # same keys: weights load either way
    assert sorted(reg.regularizers) == ["bottleneck", "encoder_0", "encoder_1", "encoder_2", "encoder_3"]
    x = torch.randn(2, 1, 32, 32)
    reg.load_state_dict(plain.state_dict())
    plain.eval(), reg.eval()
    with torch.no_grad():
        assert torch.equal(reg(x), plain(x))  # eval: DropBlock is the identity
    reg.train()
    assert not torch.equal(reg(x), plain.train()(x))


def test_regularizer_parts_levels_and_errors() -> None:
    seen = []

    def factory(level: int, channels: int) -> nn.Module:
        seen.append((level, channels))
        return nn.Dropout2d(0.1)

    model = cl.create_model("unet", widths=(4, 8, 16), regularizer=factory,
                            regularize=("decoder", "bottleneck"))
    assert seen == [(0, 4), (1, 8), (2, 16)]
    assert sorted(model.regularizers) == ["bottleneck", "decoder_0", "decoder_1"]
    assert model.config["regularize"] == ("decoder", "bottleneck")
    with pytest.raises(ValueError, match="regularize="):
        cl.create_model("unet", widths=(4, 8, 16), regularizer=factory, regularize=("middle",))
    with pytest.raises(TypeError, match=r"not an nn\.Module"):
        cl.create_model("unet", widths=(4, 8, 16), regularizer=lambda level, c: 0.1)
