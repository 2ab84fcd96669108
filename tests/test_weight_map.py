"""The U-Net weight map w = w_c + w0 exp(-(d1 + d2)^2 / (2 sigma^2)) and the Dataset wrapper."""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import ndimage

from course_lib.data import weight_map as wm

ISBI = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "isbi2012"


def two_cells(gap: int = 1) -> np.ndarray:
    """Two 30x30 cells side by side, ``gap`` background columns apart, in a 100x100 image."""
    labels = np.zeros((100, 100), np.int64)
    labels[35:65, 10:40] = 1
    labels[35:65, 40 + gap:70 + gap] = 2
    return labels


def reference_weight_map(labels: np.ndarray, w0: float = 10.0, sigma: float = 5.0) -> np.ndarray:
    """Brute force: a full distance transform per cell, the two smallest per pixel via np.partition."""
    n = labels.size
    fg = labels > 0
    wc = np.where(fg, n / (2 * fg.sum()), n / (2 * (~fg).sum()))
    dists = np.stack([ndimage.distance_transform_edt(labels != k) for k in np.unique(labels[fg])])
    d1, d2 = np.partition(dists, 1, axis=0)[:2]
    return wc + np.where(fg, 0.0, w0 * np.exp(-((d1 + d2) ** 2) / (2 * sigma**2)))


def test_two_cells_ridge_and_far_field() -> None:
    labels = two_cells(gap=1)
    w = wm.unet_weight_map(labels)
    assert w.dtype == np.float32 and w.shape == labels.shape
    n_fg = (labels > 0).sum()
    w_bg, w_fg = 1e4 / (2 * (1e4 - n_fg)), 1e4 / (2 * n_fg)
    ridge = w[35:65, 40]  # the 1-px gap: d1 = d2 = 1
    np.testing.assert_allclose(ridge, w_bg + 10 * math.exp(-4 / 50), rtol=1e-6)
    assert ridge.max() == pytest.approx(w.max()) and ridge.max() > 0.9 * 10 + w_bg
    assert w[0, 0] == pytest.approx(w_bg, abs=1e-4)  # far from the cells: w_c only
    np.testing.assert_allclose(w[labels > 0], w_fg)  # no border term inside cells (default)
    # w_c balances the classes: each carries half the total weight
    assert (w_bg * (1e4 - n_fg)) == pytest.approx(w_fg * n_fg)
    # a wider gap lowers the ridge as exp(-(d1 + d2)^2 / 2 sigma^2)
    wide = wm.unet_weight_map(two_cells(gap=5), class_balance=False)
    assert wide[50, 42] == pytest.approx(1 + 10 * math.exp(-(3 + 3) ** 2 / 50), rel=1e-6)


def test_matches_brute_force_reference_on_many_cells() -> None:
    rng = np.random.default_rng(0)
    blobs = ndimage.gaussian_filter(rng.random((160, 192)), 4) > 0.5
    labels = wm.label_instances(blobs)
    assert labels.max() > 10
    np.testing.assert_allclose(wm.unet_weight_map(labels), reference_weight_map(labels), atol=1e-3)


def test_options_inputs_and_shapes() -> None:
    labels = two_cells()
    plain = wm.unet_weight_map(labels, class_balance=False, w0=0)
    np.testing.assert_array_equal(plain, np.ones_like(plain))
    everywhere = wm.unet_weight_map(labels, border_on="all")
    assert everywhere[50, 39] > wm.unet_weight_map(labels)[50, 39]  # cell pixels near the other cell
    one_cell = np.where(labels == 2, 0, labels)
    w = wm.unet_weight_map(one_cell, class_balance=False)
    np.testing.assert_array_equal(w, np.ones_like(w))  # fewer than two cells: no border term
    as_torch = wm.unet_weight_map(torch.from_numpy(labels)[None])
    assert as_torch.shape == (1, 100, 100)
    np.testing.assert_array_equal(as_torch[0], wm.unet_weight_map(labels))
    with pytest.raises(ValueError, match="label_instances"):
        wm.unet_weight_map(labels * 0.5)
    with pytest.raises(ValueError, match="HxW or 1xHxW"):
        wm.unet_weight_map(np.zeros((2, 4, 4), np.int64))


def test_label_instances_keeps_cells_apart_across_a_diagonal_membrane() -> None:
    mask = np.array([[1, 0], [0, 1]], np.float32)
    assert wm.label_instances(mask).max() == 2
    assert wm.label_instances(mask, connectivity=2).max() == 1


class _Samples(torch.utils.data.Dataset):
    def __init__(self, with_instances: bool = True) -> None:
        self.with_instances = with_instances

    def __len__(self) -> int:
        return 2

    def __getitem__(self, i: int) -> dict:
        labels = torch.from_numpy(two_cells(gap=1 + i))[None]
        sample = {"image": torch.rand(1, 100, 100), "mask": (labels > 0).float()}
        if self.with_instances:
            sample["instances"] = labels
        return sample


def test_dataset_wrapper_adds_and_caches_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    data = wm.add_weight_map(_Samples(), w0=10.0, sigma=5.0)
    calls = []
    original = wm.unet_weight_map
    monkeypatch.setattr(wm, "unet_weight_map", lambda *a, **k: calls.append(1) or original(*a, **k))
    first = data[1]
    assert first["weight"].shape == (1, 100, 100) and first["weight"].dtype == torch.float32
    np.testing.assert_allclose(first["weight"][0].numpy(), original(two_cells(gap=2)))
    data[1]["weight"].zero_()  # a caller modifying its copy must not corrupt the cache
    assert torch.equal(data[1]["weight"], first["weight"])
    assert len(calls) == 1 and len(data) == 2
    with pytest.raises(KeyError, match="from_mask=True"):
        wm.add_weight_map(_Samples(with_instances=False))[0]
    from_mask = wm.add_weight_map(_Samples(with_instances=False), from_mask=True)[0]
    np.testing.assert_allclose(from_mask["weight"][0].numpy(), original(two_cells(gap=1)))
    with pytest.raises(TypeError):
        wm.add_weight_map(_Samples(), w_0=10)


def test_isbi_label_is_fast_and_sane() -> None:
    label_file = ISBI / "train" / "label" / "0.png"
    if not label_file.exists():
        pytest.skip(f"ISBI 2012 test data not found at {ISBI}")
    from PIL import Image

    labels = wm.label_instances(np.array(Image.open(label_file)) > 127)
    assert 50 < labels.max() < 400
    start = time.perf_counter()
    w = wm.unet_weight_map(labels)
    elapsed = time.perf_counter() - start
    assert elapsed < 2.0, f"weight map took {elapsed:.2f} s"
    membrane = labels == 0
    assert w[membrane].mean() > 2 * w[~membrane].mean()  # membranes between cells are up-weighted
    assert w.max() <= 10 + w[membrane].min() + 1e-4


def test_isbi_protocol_pipeline_on_synthetic_membranes() -> None:
    from course_lib import instance_metrics
    from course_lib.data import load
    from course_lib.protocols import isbi

    images = load("synthetic-membranes", "train", n=2, size=96, seed=3)
    patches = isbi.training_patches(images, input_size=64, patches_per_image=2, elastic=True, seed=0)
    sample = patches[1]
    assert sample["weight"].shape == sample["mask"].shape == (1, 64, 64)
    full = wm.unet_weight_map(images[0]["instances"])
    assert float(sample["weight"].max()) <= float(full.max()) + 1e-3 and float(sample["weight"].min()) > 0
    # without augmentation a patch's weight is the crop of the full image's map (not the patch's own map)
    class Coordinates(torch.utils.data.Dataset):  # image value = pixel index, so a patch tells where it was
        def __len__(self) -> int:
            return 1

        def __getitem__(self, i: int) -> dict:
            return {**images[0], "image": torch.arange(96 * 96, dtype=torch.float32).reshape(1, 96, 96)}

    plain = isbi.training_patches(Coordinates(), input_size=64, patches_per_image=3, elastic=False, seed=0)
    plain.transform = None
    for k in range(3):
        crop = plain[k]
        top, left = divmod(int(crop["image"][0, 0, 0]), 96)
        np.testing.assert_allclose(crop["weight"][0].numpy(), full[0, top:top + 64, left:left + 64])

    a, b = isbi.make_model("padded", base_width=2), isbi.make_model("padded", base_width=2)
    same = zip(a.state_dict().values(), b.state_dict().values(), strict=True)
    assert all(torch.equal(p, q) for p, q in same)
    assert isbi.make_model("valid", base_width=2).padding == "valid"
    truth = load("synthetic-membranes", "val", n=2, size=96, seed=3)
    result = isbi.evaluate_cells(a, truth, thresholds=(0.5,))
    pairs = sum(len(instance_metrics.touching_pairs(truth[i]["instances"], 4)) for i in range(2))
    assert result.cells["touching_pairs"] == pairs and 0 <= result.cells["rand_error"] <= 1
    assert result.per_threshold[0.5] == pytest.approx(result.cells["rand_error"])
    assert len(result.probs) == 2 and result.probs[0].shape == (1, 96, 96)
