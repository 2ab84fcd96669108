"""inspect_model: parameter counts, activation capture, the per-level shape table, the summary."""

import matplotlib.pyplot as plt
import pytest
import torch
import torch.nn as nn

import course_lib as cl
from course_lib import inspect_model


def small_unet(**cfg):
    return cl.create_model("unet", in_channels=1, out_channels=1, widths=(4, 8, 16), **cfg)


def test_parameter_count_counts_weights_not_buffers():
    layer = nn.Sequential(nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3))
    assert inspect_model.parameter_count(layer) == 2 * 3 * 9 + 3 + 3 + 3
    layer[0].weight.requires_grad_(False)
    assert inspect_model.parameter_count(layer, trainable_only=True) == 3 + 3 + 3


def test_capture_activations_default_layers_and_order_and_mode_restored():
    model = small_unet().train()
    acts = inspect_model.capture_activations(model, torch.rand(2, 1, 32, 32))
    assert list(acts) == model.feature_names()
    assert acts["encoder.0"].shape == (2, 4, 32, 32)
    assert acts["bottleneck"].shape == (2, 16, 8, 8)
    assert all(not t.requires_grad for t in acts.values())
    assert model.training, "the model's training mode must be restored"
    picked = inspect_model.capture_activations(model, torch.rand(1, 1, 32, 32), ["decoder.0", "encoder.1"])
    assert list(picked) == ["decoder.0", "encoder.1"]


def test_capture_inputs_sees_the_concatenation():
    model = small_unet()
    inputs = inspect_model.capture_inputs(model, torch.rand(1, 1, 32, 32), ["decoder.0.block"])
    assert inputs["decoder.0.block"].shape == (1, 8, 32, 32)  # 4 skip + 4 upsampled channels


def test_unknown_layer_name_suggests_close_matches():
    with pytest.raises(ValueError, match="Did you mean"):
        inspect_model.capture_activations(small_unet(), torch.rand(1, 1, 32, 32), ["encoder.7"])


def test_hooks_are_removed_after_an_error():
    model = small_unet()
    with pytest.raises(ValueError):  # the model rejects the wrong channel count
        inspect_model.capture_activations(model, torch.rand(1, 3, 32, 32))
    assert all(not m._forward_hooks for m in model.modules())


@pytest.mark.parametrize("skip", [True, False])
def test_level_table_matches_the_formulas(skip):
    model = small_unet(skip=skip)
    rows = inspect_model.level_table(model, 64)
    assert [r.encoder for r in rows] == [(4, 64, 64), (8, 32, 32), (16, 16, 16)]
    assert rows[-1].decoder is None and rows[-1].up is None
    assert rows[0].concat == ((8 if skip else 4), 64, 64)
    assert rows[1].up == (8, 32, 32)
    assert sum(r.parameters for r in rows) == inspect_model.parameter_count(model) - sum(
        p.numel() for p in model.head.parameters())
    text = inspect_model.format_level_table(rows)
    assert "8 x 64 x 64" in text if skip else "4 x 64 x 64" in text
    fig = inspect_model.plot_level_table(rows)
    assert any("copy, concat" in t.get_text() for t in fig.axes[0].texts) == skip
    plt.close(fig)


def test_level_table_rejects_models_that_are_not_unets():
    with pytest.raises(TypeError, match="encoder/bottleneck/decoder"):
        inspect_model.level_table(nn.Conv2d(1, 1, 3), 32)


def test_summary_totals_agree_with_parameter_count():
    model = small_unet()
    result = inspect_model.summary(model, (1, 1, 32, 32))
    assert result.total_params == inspect_model.parameter_count(model)
    assert "encoder" in str(result)
