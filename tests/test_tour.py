"""Chapter 00's helpers (course_lib.tour) and its exercise checkers."""

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import course_lib as cl
from course_lib import tour


@pytest.mark.parametrize("seed", range(4))
def test_otsu_matches_scikit_image(seed):
    threshold_otsu = pytest.importorskip("skimage.filters").threshold_otsu
    rng = np.random.default_rng(seed)
    values = np.concatenate([rng.normal(0.3, 0.07, 3000), rng.normal(0.75, 0.1, 700 * (seed + 1))])
    assert tour.otsu_threshold(values) == pytest.approx(threshold_otsu(values), abs=1e-12)
    assert tour.otsu_threshold(np.full(10, 0.4)) == 0.4
    with pytest.raises(ValueError, match="no finite"):
        tour.otsu_threshold(np.array([np.nan]))


def _toy_dataset():
    """Two samples whose foreground is exactly the dark pixels: a threshold separates them perfectly."""
    samples = []
    for k in range(2):
        mask = torch.zeros(1, 16, 16)
        mask[:, 4 + k : 8 + k, 2:10] = 1
        image = (0.8 - 0.6 * mask).repeat(3, 1, 1)
        fov = torch.ones(1, 16, 16)
        fov[:, :, :2] = 0
        samples.append({"image": image, "mask": mask, "fov": fov})
    return samples


def test_baseline_and_stats_on_a_separable_toy_set():
    data = _toy_dataset()
    scores = tour.threshold_baseline(data, dark_foreground=True)
    assert scores["otsu_dice"] == pytest.approx(1.0)
    assert scores["best_dice"] == pytest.approx(1.0)
    assert scores["background_accuracy"] == pytest.approx(1 - 32 / (16 * 14))
    wrong_side = tour.threshold_baseline(data, dark_foreground=False)
    assert wrong_side["otsu_dice"] == 0.0
    assert tour.threshold_baseline(data, dark_foreground=None)["otsu_dice"] == pytest.approx(1.0)  # oracle
    stats = tour.dataset_stats(data, "toy")
    assert stats["image"] == "3x16x16" and stats["samples"] == 2
    assert stats["foreground"] == pytest.approx(32 / 256)
    assert stats["fg_in_fov"] == pytest.approx(32 / 224)
    assert stats["fov"] == pytest.approx(224 / 256)
    assert stats["instances"] is None


def test_stats_of_a_synthetic_dataset_and_table():
    data = cl.data.load("synthetic-membranes", n=2, size=96)
    row = tour.dataset_stats(data, "m")
    assert row["fov"] is None and row["instances"] >= 1
    table = tour.format_table([row, {**row, "dataset": "a|b", "fov": 0.5}]).splitlines()
    assert len(table) == 4 and table[0].startswith("| dataset")
    assert "a\\|b" in table[3] and "0.500" in table[3] and "–" in table[2]


def test_catalogue_covers_every_download_recipe():
    rows = {r["name"]: r for r in tour.catalogue()}
    assert set(rows) == set(cl.data.SOURCES)
    assert rows["drive"]["login"] == "yes" and rows["isbi2012"]["login"] == "no"
    assert rows["isbi2012"]["licence"].endswith("no redistribution grant.")  # not cut at "et al."
    assert "512x512" in rows["isbi2012"]["what"]


def test_real_dataset_folder(tmp_path):
    assert tour.real_dataset_folder("isbi2012", tmp_path) == (False, str(tmp_path / "isbi2012"))
    (tmp_path / "isbi2012").mkdir()
    (tmp_path / "isbi2012" / "x").write_text("")
    assert tour.real_dataset_folder("ISBI2012", tmp_path)[0]
    with pytest.raises(ValueError, match="Unknown real dataset"):
        tour.real_dataset_folder("nope")


def test_local_pixel_classifier_shape_and_size():
    model = tour.local_pixel_classifier(3, width=8, depth=3)
    assert sum(p.numel() for p in model.parameters()) == 1425
    assert model(torch.rand(2, 3, 20, 24)).shape == (2, 1, 20, 24)


def test_checkers_reject_the_usual_mistakes(capsys):
    check = cl.exercises.check
    def resize(mode):
        return lambda x, size: F.interpolate(x[None].float(), size, mode=mode)[0].round().to(x.dtype)

    assert check("00.resize_label", resize("nearest"))
    assert not check("00.resize_label", resize("bilinear"))
    assert check("00.otsu", tour.otsu_threshold)
    assert not check("00.otsu", lambda v: float(np.mean(v)))
    assert "mean" in capsys.readouterr().out


def test_shown_path_hides_the_machine_folders(tmp_path, monkeypatch):
    from course_lib.tour import shown_path

    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    assert shown_path(tmp_path) == "$COURSE_DATA_DIR"
    assert shown_path(tmp_path / "DRIVE") == "$COURSE_DATA_DIR/DRIVE"
    project = Path(cl.__file__).resolve().parents[1]
    assert shown_path(project / "data" / "ECSSD") == "<project>/data/ECSSD"
    assert shown_path("/somewhere/else") == "/somewhere/else"
