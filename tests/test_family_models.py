"""The U-Net family's models: exact parameter counts (COURSE.md), output shapes, deep supervision,
UNet++ pruning, attention maps, U^2-Net side outputs, input-size checks."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

import course_lib as cl
from course_lib.blocks import RSU, RSU4F, AttentionGate
from course_lib.models.r2unet import R2UNet
from course_lib.models.unetpp import UNetPlusPlus

PAPER = {"in_channels": 1, "out_channels": 1, "widths": (32, 64, 128, 256, 512), "batch_norm": False}
SMALL = (4, 8, 16, 32)


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize(
    ("name", "cfg", "expected"),
    [
        ("unetpp", {**PAPER, "deep_supervision": False}, 9_041_601),
        ("unetpp", {**PAPER, "deep_supervision": True}, 9_041_700),
        ("u2net", {"in_channels": 3, "out_channels": 1}, 44_009_869),
        ("u2netp", {"in_channels": 3, "out_channels": 1}, 1_131_181),
        ("attention_unet", {"in_channels": 3, "out_channels": 1}, 34_878_573),
        ("r2unet", {"in_channels": 3, "out_channels": 1, "t": 2}, 39_091_393),
        ("r2attunet", {"in_channels": 3, "out_channels": 1, "t": 2}, 39_442_925),
    ],
)
def test_parameter_counts_match_course(name, cfg, expected):
    assert name in cl.list_models()
    assert n_params(cl.create_model(name, **cfg)) == expected


def test_full_size_models_run_at_32x32():
    with torch.no_grad():
        y = cl.create_model("attention_unet").eval()(torch.randn(1, 3, 32, 32))
        assert y.shape == (1, 1, 32, 32)
        outs = cl.create_model("u2net").eval()(torch.randn(1, 3, 32, 32))
        assert [o.shape for o in outs] == [(1, 1, 32, 32)] * 7


# --- UNet++ ------------------------------------------------------------------------------------------

def small_unetpp(**cfg) -> UNetPlusPlus:
    torch.manual_seed(0)
    return cl.create_model("unetpp", in_channels=2, out_channels=3, widths=(4, 8, 16, 32, 64), **cfg)


def test_unetpp_nodes_follow_the_paper_notation():
    model = small_unetpp()
    assert set(model.nodes) == {f"x_{i}_{j}" for i in range(5) for j in range(5 - i)}
    assert list(small_unetpp(deep_supervision=True).heads) == ["out_1", "out_2", "out_3", "out_4"]
    assert list(model.heads) == ["out_4"]


def test_unetpp_deep_supervision_outputs_final_first_and_pruning_matches_heads():
    model = small_unetpp(deep_supervision=True, batch_norm=True).eval()
    x = torch.randn(2, 2, 32, 32)
    with torch.no_grad():
        outs = model(x)
        assert isinstance(outs, list) and len(outs) == 4
        assert all(o.shape == (2, 3, 32, 32) for o in outs)
        for level in (1, 2, 3, 4):
            pruned = model(x, prune_level=level)
            assert torch.is_tensor(pruned)
            torch.testing.assert_close(pruned, outs[4 - level])  # outs = [L4, L3, L2, L1]
        torch.testing.assert_close(model.prune(2)(x), outs[2])
        assert isinstance(model.prune(None)(x), list)


@pytest.mark.parametrize("level", [1, 2, 3, 4])
def test_unetpp_pruning_computes_only_the_needed_nodes(level):
    model = small_unetpp(deep_supervision=True).eval()
    called = []
    for name, node in model.nodes.items():
        node.register_forward_hook(lambda *_, name=name: called.append(name))
    with torch.no_grad():
        model(torch.randn(1, 2, 16, 16), prune_level=level)
    assert sorted(called) == sorted(f"x_{i}_{j}" for i in range(level + 1) for j in range(level + 1 - i))


def test_unetpp_pruning_errors():
    with pytest.raises(ValueError, match="deep_supervision=True"):
        small_unetpp(deep_supervision=False).prune(2)
    with pytest.raises(ValueError, match=r"1\.\.4"):
        small_unetpp(deep_supervision=True)(torch.randn(1, 2, 16, 16), prune_level=5)
    assert small_unetpp().eval()(torch.randn(1, 2, 16, 16), prune_level=4).shape == (1, 3, 16, 16)


# --- Attention U-Net and R2(Att)U-Net ----------------------------------------------------------------

def test_attention_unet_maps_have_the_skip_resolutions_and_lie_in_unit_interval():
    torch.manual_seed(0)
    model = cl.create_model("attention_unet", in_channels=1, out_channels=2, widths=SMALL)
    assert model.attention_maps() == [None, None, None]
    y = model(torch.randn(2, 1, 32, 32))
    assert y.shape == (2, 2, 32, 32)
    maps = model.attention_maps()
    assert [m.shape for m in maps] == [(2, 1, 8, 8), (2, 1, 16, 16), (2, 1, 32, 32)]
    assert all(m.min() >= 0 and m.max() <= 1 for m in maps)


def test_r2unet_and_r2attunet_are_one_class_differing_by_the_gates():
    plain = cl.create_model("r2unet", widths=SMALL)
    gated = cl.create_model("r2attunet", widths=SMALL)
    assert type(plain) is type(gated) is R2UNet
    assert plain.attention_maps() == []
    gates = [m for m in gated.modules() if isinstance(m, AttentionGate)]
    assert len(gates) == 3
    assert n_params(gated) - n_params(plain) == sum(n_params(g) for g in gates)
    assert n_params(cl.create_model("r2unet", widths=SMALL, t=1)) == n_params(plain)  # shared conv
    with pytest.raises(TypeError):
        cl.create_model("r2unet", attention=True)


@pytest.mark.parametrize("name", ["attention_unet", "r2unet", "r2attunet"])
def test_gated_family_forward_and_every_parameter_trains(name):
    torch.manual_seed(0)
    model = cl.create_model(name, in_channels=3, out_channels=1, widths=SMALL)
    y = model(torch.randn(2, 3, 16, 16))
    assert y.shape == (2, 1, 16, 16)
    y.square().mean().backward()
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize("name", ["attention_unet", "r2attunet", "unetpp"])
def test_input_size_not_divisible_by_2_to_the_depth_is_rejected(name):
    model = cl.create_model(name, in_channels=1, out_channels=1, widths=SMALL)
    model.check_input_size(24, 40)
    with pytest.raises(ValueError, match=r"8 \+ 8k"):
        model.check_input_size(30, 32)
    with pytest.raises(ValueError, match=r"8 \+ 8k"):
        model(torch.randn(1, 1, 32, 20))


# --- U^2-Net -----------------------------------------------------------------------------------------

def test_u2net_stage_names_and_blocks_follow_the_paper():
    model = cl.create_model("u2netp")
    assert list(model.stages) == [f"En_{k}" for k in range(1, 7)] + [f"De_{k}" for k in range(5, 0, -1)]
    heights = {name: stage.height for name, stage in model.stages.items()}
    assert heights == {"En_1": 7, "En_2": 6, "En_3": 5, "En_4": 4, "En_5": 4, "En_6": 4,
                       "De_5": 4, "De_4": 4, "De_3": 5, "De_2": 6, "De_1": 7}
    flat = {name for name, stage in model.stages.items() if isinstance(stage, RSU4F)}
    assert flat == {"En_5", "En_6", "De_5"}
    assert {type(s) for s in model.stages.values()} == {RSU, RSU4F}


@pytest.mark.parametrize("size", [(64, 64), (50, 72)])
def test_u2netp_returns_seven_logit_maps_at_input_size_fused_first(size):
    torch.manual_seed(0)
    model = cl.create_model("u2netp", in_channels=3, out_channels=2).eval()
    x = torch.randn(1, 3, *size)
    with torch.no_grad():
        outs = model(x)
    assert len(outs) == 7
    assert all(o.shape == (1, 2, *size) for o in outs)
    torch.testing.assert_close(outs[0], model.fuse(torch.cat(outs[1:], dim=1)))
    assert not any(isinstance(m, nn.Sigmoid) for m in model.modules())  # logits, no sigmoid inside


def test_u2netp_every_parameter_trains_and_bad_config_is_rejected():
    torch.manual_seed(0)
    model = cl.create_model("u2netp")
    sum(o.square().mean() for o in model(torch.randn(2, 3, 32, 32))).backward()
    assert all(p.grad is not None for p in model.parameters())
    with pytest.raises(ValueError, match="Unknown U"):
        cl.models.U2Net("u3net")
    with pytest.raises(ValueError, match="stages"):
        cl.models.U2Net({"En_1": (7, 16, 64)})
    with pytest.raises(ValueError, match="positive"):
        model.check_input_size(0, 32)
