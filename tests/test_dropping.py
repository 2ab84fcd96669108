"""Chapter 03's test of DropBlock's premise (cl.protocols.dropping): correlated fields, the share of a
dropped signal the kept neighbours recover, and the feature correlation of a U-Net."""

from __future__ import annotations

import math

import pytest
import torch

import course_lib as cl
from course_lib.protocols import dropping


def test_correlated_field_has_unit_variance_and_the_asked_correlation():
    white = dropping.correlated_field(0, (2, 2, 32, 32))
    smooth = dropping.correlated_field(4, (2, 2, 32, 32))
    assert white.std().item() == pytest.approx(1, abs=1e-5)
    assert smooth.std().item() == pytest.approx(1, abs=1e-5)

    def lag1(x):
        return float((x[..., 1:] * x[..., :-1]).mean())

    assert abs(lag1(white)) < 0.1
    # a Gaussian of std s has autocorrelation exp(-d^2 / (4 s^2)) at lag d: about 0.98 at d=1, s=4
    assert lag1(smooth) == pytest.approx(math.exp(-1 / 64), abs=0.05)
    with pytest.raises(ValueError, match="correlation length"):
        dropping.correlated_field(-1)


def test_recovered_share_by_hand():
    x = torch.tensor([[[[1.0, 2.0, 3.0]]]])
    keep = torch.tensor([[[[True, False, True]]]])
    # the middle one is estimated by the mean of its kept neighbours (1 + 3) / 2 = 2: fully recovered
    assert dropping.recovered_share(x, keep) == pytest.approx(1.0)
    keep_none = torch.tensor([[[[False, False, False]]]])
    assert dropping.recovered_share(x, keep_none) == pytest.approx(0.0)  # nothing kept: estimate 0
    with pytest.raises(ValueError, match="Nothing was dropped"):
        dropping.recovered_share(x, torch.ones_like(keep))
    with pytest.raises(ValueError, match="differ in shape"):
        dropping.recovered_share(x, keep[..., :2])


def test_leak_table_dropout_leaks_on_correlated_maps_and_blocks_do_not():
    table = dropping.leak_table(lengths=(0.5, 4), block_sizes=(7,))
    assert table["Dropout"][4] > 0.95 > table["DropBlock 7"][4]
    assert table["Dropout"][0.5] < 0.3  # uncorrelated: nothing to read from the neighbours


def test_feature_correlation_reads_every_level():
    model = cl.create_model("unet", in_channels=1, widths=(4, 8, 16))
    corr = dropping.feature_correlation(model, torch.rand(2, 1, 32, 32), lags=(1, 2))
    assert set(corr) == {"encoder.0", "encoder.1", "bottleneck", "decoder.1", "decoder.0"}
    assert all(-1 <= v <= 1 for row in corr.values() for v in row.values())
    assert model.training  # its mode is restored
    with pytest.raises(TypeError, match="not a course U-Net"):
        dropping.feature_correlation(torch.nn.Conv2d(1, 1, 3), torch.rand(1, 1, 8, 8))
