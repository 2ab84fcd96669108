"""The synthetic datasets: determinism, conventions, label statistics, speed, knobs, and that a global
threshold (Otsu) does clearly worse than a trained model would, i.e. the tasks are not trivial."""

from __future__ import annotations

import functools
import time

import numpy as np
import pytest
import torch

import course_lib as cl

NAMES = ["synthetic-vessels", "synthetic-membranes", "synthetic-salient", "synthetic-lesions"]
CHANNELS = {"synthetic-vessels": 3, "synthetic-membranes": 1, "synthetic-salient": 3, "synthetic-lesions": 1}
N_STATS = 6  # samples averaged for the label statistics and the Otsu baseline


def otsu_threshold(values: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold: the cut maximising the between-class variance of a 256-bin histogram."""
    hist, edges = np.histogram(values, bins=bins)
    centres = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(hist)
    w1 = w0[-1] - w0
    m0 = np.cumsum(hist * centres) / np.maximum(w0, 1)
    m1 = ((hist * centres).sum() - np.cumsum(hist * centres)) / np.maximum(w1, 1)
    return float(centres[np.argmax(w0 * w1 * (m0 - m1) ** 2)])


def dice(pred: np.ndarray, target: np.ndarray) -> float:
    return 2 * float((pred & target).sum()) / max(float(pred.sum() + target.sum()), 1.0)


def otsu_dice(sample: dict[str, torch.Tensor]) -> float:
    """Global Otsu on the grey image (inside the FOV if any), with the better of the two polarities."""
    grey = sample["image"].mean(0).numpy()
    target = sample["mask"][0].numpy() > 0.5
    region = sample["fov"][0].numpy() > 0.5 if "fov" in sample else np.ones_like(target)
    t = otsu_threshold(grey[region])
    return max(dice((grey > t) & region, target), dice((grey <= t) & region, target))


@pytest.fixture(scope="module", params=NAMES)
def val_samples(request) -> tuple[str, list[dict[str, torch.Tensor]]]:
    return request.param, validation_samples(request.param)


@functools.cache
def validation_samples(name: str) -> list[dict[str, torch.Tensor]]:
    ds = cl.data.load(name, split="val")
    return [ds[i] for i in range(N_STATS)]


def test_registered() -> None:
    assert set(NAMES) <= set(cl.data.list_datasets())


def test_otsu_helper_matches_a_bimodal_split() -> None:
    values = np.concatenate([np.full(100, 0.2), np.full(50, 0.8)])
    assert 0.2 < otsu_threshold(values) < 0.8


@pytest.mark.parametrize("name", NAMES)
def test_deterministic_and_splits_differ(name: str) -> None:
    a = cl.data.load(name, split="train", n=2, cache=False)[1]
    b = cl.data.load(name, split="train", n=2, cache=False)[1]
    for key in a:
        assert torch.equal(a[key], b[key]), key
    other_split = cl.data.load(name, split="test", n=2)[1]
    other_seed = cl.data.load(name, split="train", n=2, seed=1)[1]
    assert not torch.equal(a["image"], other_split["image"])
    assert not torch.equal(a["mask"], other_seed["mask"])


def test_conventions(val_samples) -> None:
    name, samples = val_samples
    ds = cl.data.load(name, split="val")
    assert (len(ds), len(cl.data.load(name)), len(cl.data.load(name, n=3))) == (8, 40, 3)
    for s in samples:
        assert s["image"].shape == (CHANNELS[name], 256, 256) and s["image"].dtype == torch.float32
        assert s["image"].min() >= 0.0 and s["image"].max() <= 1.0
        assert s["mask"].shape == (1, 256, 256) and s["mask"].dtype == torch.float32
        assert set(torch.unique(s["mask"]).tolist()) <= {0.0, 1.0}
    keys = set(samples[0])
    extra = {"synthetic-vessels": {"fov"}, "synthetic-membranes": {"instances"},
             "synthetic-lesions": {"lookalike"}}
    expected = {"image", "mask"} | extra.get(name, set())
    assert keys == expected
    if name == "synthetic-lesions":  # look-alike blobs: binary, present, never on a lesion
        for s in samples:
            assert set(torch.unique(s["lookalike"]).tolist()) <= {0.0, 1.0} and s["lookalike"].sum() > 0
            assert not (s["lookalike"].bool() & s["mask"].bool()).any()


def test_label_statistics(val_samples) -> None:
    name, samples = val_samples
    if name == "synthetic-vessels":
        fractions = [s["mask"][s["fov"] > 0].mean().item() for s in samples]
        assert all(torch.all(s["mask"] <= s["fov"]) for s in samples)  # vessels only inside the FOV
        low, high = 0.10, 0.14
    elif name == "synthetic-membranes":
        fractions = [s["mask"].mean().item() for s in samples]
        low, high = 0.15, 0.25
    elif name == "synthetic-lesions":
        fractions = [s["mask"].mean().item() for s in samples]
        low, high = 0.01, 0.03
    else:
        fractions = [s["mask"].mean().item() for s in samples]
        low, high = 0.05, 0.4
    assert low <= np.mean(fractions) <= high, fractions


def test_membrane_instances_match_mask() -> None:
    for s in validation_samples("synthetic-membranes"):
        inst, mask = s["instances"], s["mask"]
        assert inst.dtype == torch.int64 and inst.shape == mask.shape
        assert torch.equal(inst == 0, mask == 1)  # 0 exactly on membrane
        ids = torch.unique(inst[inst > 0])
        assert torch.equal(ids, torch.arange(1, len(ids) + 1)) and len(ids) > 20  # consecutive cell ids


def test_vessels_scale_to_drive_size() -> None:
    s = cl.data.load("synthetic-vessels", size=(584, 565), n=1, cache=False)[0]
    assert s["image"].shape == (3, 584, 565) and s["fov"].shape == (1, 584, 565)
    assert 0.09 <= s["mask"][s["fov"] > 0].mean().item() <= 0.15
    # fundus colours: red brightest, blue darkest inside the FOV, as in DRIVE
    r, g, b = (s["image"][c][s["fov"][0] > 0].mean().item() for c in range(3))
    assert r > g > b


@pytest.mark.parametrize("name", NAMES)
def test_speed_512(name: str) -> None:
    ds = cl.data.load(name, size=512, n=2, cache=False)
    times = []
    for i in range(2):
        start = time.perf_counter()
        ds[i]
        times.append(time.perf_counter() - start)
    assert min(times) < 1.0, times


def test_otsu_baseline_is_clearly_beaten(val_samples) -> None:
    """A global threshold scores far below the Dice a trained chapter model reaches (~0.8+)."""
    name, samples = val_samples
    scores = [otsu_dice(s) for s in samples]
    assert np.mean(scores) < 0.6, (name, scores)


@pytest.mark.parametrize("name", NAMES)
def test_noise_knob_changes_only_the_image(name: str) -> None:
    ds = cl.data.load(name, split="val", n=1, noise=0.0, size=96)
    noisy = ds.with_knobs(noise=0.08)
    a, b = ds[0], noisy[0]
    assert torch.equal(a["mask"], b["mask"])
    assert (b["image"] - a["image"]).std() > 0.02


@pytest.mark.parametrize("name", ["synthetic-vessels", "synthetic-membranes", "synthetic-salient"])
def test_difficulty_is_measurable(name: str) -> None:
    easy = cl.data.load(name, split="val", n=2, difficulty=0.0)
    hard = easy.with_knobs(difficulty=1.0)
    easy_dice = np.mean([otsu_dice(easy[i]) for i in range(2)])
    assert easy_dice > np.mean([otsu_dice(hard[i]) for i in range(2)]) + 0.03


def test_lesion_contrast_knob() -> None:
    def lesion_contrast(s):
        img, m = s["image"][0].numpy(), s["mask"][0].numpy() > 0
        from scipy import ndimage
        ring = ndimage.binary_dilation(m, iterations=4) & ~ndimage.binary_dilation(m, iterations=1)
        return img[ring].mean() - img[m].mean()

    ds = cl.data.load("synthetic-lesions", split="val", n=2, contrast=2.0)
    assert lesion_contrast(ds[0]) > 1.5 * lesion_contrast(ds.with_knobs(contrast=0.7)[0]) > 0


def test_cache_returns_copies() -> None:
    ds = cl.data.load("synthetic-lesions", n=1)
    first = ds[0]
    first["image"].zero_()
    assert ds[0]["image"].abs().sum() > 0


@pytest.mark.parametrize(("kwargs", "error"), [
    ({"split": "validation"}, ValueError),
    ({"brightness": 1.0}, TypeError),
    ({"size": 8}, ValueError),
    ({"difficulty": 2.0}, ValueError),
    ({"n": 0}, ValueError),
])
def test_bad_input_is_explained(kwargs: dict, error: type) -> None:
    with pytest.raises(error, match=r"split|brightness|size|difficulty|n must"):
        cl.data.load("synthetic-salient", **kwargs)
