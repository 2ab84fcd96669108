"""Real-dataset loaders: the shared DRIVE/ISBI copies, and small fixtures in each dataset's real layout."""

import gzip
import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import course_lib as cl
from course_lib.data.real.common import (
    DatasetLayoutError,
    DatasetNotFoundError,
    ImageReadError,
    derive_fov,
)
from course_lib.data.transforms import Compose, RandomFlip, RandomRotation

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
needs_drive = pytest.mark.skipif(
    not (SHARED / "DRIVE" / "training").is_dir(), reason=f"real DRIVE training split not found in {SHARED}"
)
needs_isbi = pytest.mark.skipif(
    not (SHARED / "isbi2012" / "train").is_dir(), reason=f"real ISBI 2012 data not found in {SHARED}"
)


# ----------------------------------------------------------------------------- real data (shared copy)


@needs_drive
def test_drive_training_split_shapes_and_statistics():
    root = SHARED / "DRIVE"
    train = cl.data.load("drive", split="train", root=root)
    val = cl.data.load("drive", split="val", root=root)
    assert (len(train), len(val)) == (16, 4)
    assert set(train.ids).isdisjoint(val.ids) and len(set(train.ids) | set(val.ids)) == 20
    assert cl.data.load("drive", split="val", root=root, seed=1).ids != val.ids
    assert cl.data.load("drive", split="val", root=root, seed=0).ids == val.ids
    assert len(cl.data.load("drive", split="trainval", root=root)) == 20
    vessel, fov_fraction = [], []
    for i in range(len(val)):
        s = val[i]
        assert s["image"].shape == (3, 584, 565) and s["image"].dtype == torch.float32
        assert s["image"].min() >= 0 and s["image"].max() <= 1
        assert s["mask"].shape == s["fov"].shape == (1, 584, 565)
        assert set(s["mask"].unique().tolist()) == {0.0, 1.0} == set(s["fov"].unique().tolist())
        fov = s["fov"] > 0
        vessel.append(s["mask"][fov].mean().item())
        fov_fraction.append(fov.float().mean().item())
    assert 0.10 < np.mean(vessel) < 0.16  # DRIVE: ~12-13% of FOV pixels are vessel
    assert 0.64 < np.mean(fov_fraction) < 0.72  # the FOV covers ~69% of the frame
    with pytest.raises(DatasetLayoutError, match="test"):
        cl.data.load("drive", split="test", root=root)  # the shared copy holds only the training split


@needs_drive
def test_drive_transform_is_applied_jointly_and_reproducibly():
    t = Compose([RandomRotation(), RandomFlip()])
    a = cl.data.load("drive", split="val", root=SHARED / "DRIVE", transform=t)
    b = cl.data.load("drive", split="val", root=SHARED / "DRIVE", transform=t)
    sa, sb = a[0], b[0]
    assert torch.equal(sa["image"], sb["image"]) and torch.equal(sa["mask"], sb["mask"])
    assert set(sa["mask"].unique().tolist()) <= {0.0, 1.0}
    a.set_epoch(1)
    assert not torch.equal(a[0]["image"], sb["image"])


@needs_isbi
def test_isbi2012_membranes_instances_and_unlabelled_test():
    root = SHARED / "isbi2012"
    data = cl.data.load("isbi2012", split="trainval", root=root)
    assert len(data) == 30
    assert (len(cl.data.load("isbi2012", root=root)), len(cl.data.load("isbi2012", "val", root=root))) == (
        24,
        6,
    )
    fractions, counts = [], []
    for i in range(0, 30, 3):
        s = data[i]
        assert s["image"].shape == s["mask"].shape == s["instances"].shape == (1, 512, 512)
        assert s["instances"].dtype == torch.int64
        assert set(s["mask"].unique().tolist()) == {0.0, 1.0}
        assert torch.equal(s["instances"] == 0, s["mask"] == 1)  # membrane = 0 in instances
        fractions.append(s["mask"].mean().item())
        counts.append(int(s["instances"].max()))
    assert 0.15 < np.mean(fractions) < 0.30  # membranes are ~22% of the pixels
    assert min(counts) > 40 and max(counts) < 250  # tens to a hundred-odd cells per section
    with pytest.raises(ValueError, match="unlabeled=True"):
        cl.data.load("isbi2012", split="test", root=root)
    test = cl.data.load("isbi2012", split="test", root=root, unlabeled=True)
    assert len(test) == 30 and set(test[0]) == {"image"}


# ----------------------------------------------------------------------------- fixtures in the real layouts


def fundus(h: int, w: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A small fundus-like RGB image (bright disc on black), its vessel mask and its FOV disc."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:h, :w]
    fov = (yy - h / 2) ** 2 + (xx - w / 2) ** 2 < (0.45 * min(h, w)) ** 2
    vessels = fov & ((np.abs(yy - xx * 0.7 - seed) < 1.5) | (np.abs(xx - w / 3) < 1.2))
    rgb = np.zeros((h, w, 3), np.uint8)
    rgb[fov] = (170, 80, 40)
    rgb[vessels] = (110, 40, 20)
    rgb = np.clip(rgb + rng.integers(0, 8, rgb.shape), 0, 255).astype(np.uint8)
    return rgb, vessels, fov


def palette_gif(path: Path, binary: np.ndarray) -> None:
    """A GIF in palette mode ("P") whose index 1 is white, like DRIVE's manual annotations."""
    image = Image.fromarray(binary.astype(np.uint8), mode="L").convert("P")
    image.putpalette([0, 0, 0, 255, 255, 255] + [0] * 762)
    image.save(path)


def make_drive(root: Path, parts=("training", "test"), n: int = 3, size=(40, 36)) -> Path:
    for part in parts:
        for sub in ("images", "1st_manual", "mask"):
            (root / part / sub).mkdir(parents=True, exist_ok=True)
        first = 21 if part == "training" else 1
        for k in range(first, first + n):
            rgb, vessels, fov = fundus(*size, seed=k)
            Image.fromarray(rgb).save(root / part / "images" / f"{k:02d}_{part}.tif", compression="tiff_lzw")
            palette_gif(root / part / "1st_manual" / f"{k:02d}_manual1.gif", vessels)
            Image.fromarray((fov * 255).astype(np.uint8)).save(
                root / part / "mask" / f"{k:02d}_{part}_mask.gif"
            )
    return root


def test_drive_fixture_with_palette_gifs_and_test_split(tmp_path):
    root = make_drive(tmp_path / "DRIVE", n=5)
    assert Image.open(root / "training/1st_manual/21_manual1.gif").mode == "P"
    train = cl.data.load("drive", root=root, val_fraction=0.2)
    assert len(train) == 4 and len(cl.data.load("drive", "val", root=root)) == 1
    test = cl.data.load("drive", split="test", root=root)
    assert test.ids == [f"{k:02d}_test" for k in range(1, 6)]
    s = test[0]
    _, vessels, fov = fundus(40, 36, seed=1)
    assert torch.equal(s["mask"][0].bool(), torch.from_numpy(vessels))
    assert torch.equal(s["fov"][0].bool(), torch.from_numpy(fov))


def test_missing_folder_names_it_and_suggests_download(tmp_path, monkeypatch):
    with pytest.raises(DatasetNotFoundError) as info:
        cl.data.load("drive", root=tmp_path / "nowhere")
    message = str(info.value)
    assert str(tmp_path / "nowhere") in message and "training/images/21_training.tif" in message
    assert "cl.data.download('drive')" in message and "synthetic-vessels" in message
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    with pytest.raises(DatasetNotFoundError, match="isbi2012"):
        cl.data.load("isbi2012")  # the default root is $COURSE_DATA_DIR/isbi2012


def test_wrong_layout_is_explained(tmp_path):
    root = tmp_path / "DRIVE"
    (root / "training" / "images").mkdir(parents=True)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(root / "training/images/21_training.tif")
    with pytest.raises(DatasetLayoutError, match="1st_manual") as info:
        cl.data.load("drive", root=root)
    assert "images/" in str(info.value)  # lists what the folder does contain
    (root / "training" / "1st_manual").mkdir()
    (root / "training" / "mask").mkdir()
    with pytest.raises(DatasetLayoutError, match=r"21_manual1\.gif"):
        cl.data.load("drive", root=root)
    (root / "training/images/21_training.tif").unlink()
    (root / "training/images/photo.jpg").write_bytes(b"")
    with pytest.raises(DatasetLayoutError, match=r"photo\.jpg"):
        cl.data.load("drive", root=root)
    with pytest.raises(ValueError, match="unknown split"):
        cl.data.load("drive", split="validation", root=root)


def test_unreadable_file_and_size_mismatch_name_the_files(tmp_path):
    # Both are found when the dataset is built (file headers), not when the sample is first read.
    root = make_drive(tmp_path / "DRIVE", parts=("training",), n=2)
    good = (root / "training/images/21_training.tif").read_bytes()
    bad = root / "training/images/21_training.tif"
    bad.write_bytes(b"this is not a tiff at all")
    with pytest.raises(ImageReadError, match=r"21_training\.tif"):
        cl.data.load("drive", split="trainval", root=root)
    bad.write_bytes(good)
    palette_gif(root / "training/1st_manual/22_manual1.gif", np.zeros((30, 36), bool))
    with pytest.raises(DatasetLayoutError) as info:
        cl.data.load("drive", split="trainval", root=root)
    message = str(info.value)
    assert "22_training.tif is 36x40" in message and "22_manual1.gif is 36x30" in message


def test_stare_fixture_ppm_gz_with_derived_fov(tmp_path):
    root = tmp_path / "STARE"
    (root / "stare-images").mkdir(parents=True)
    (root / "labels-ah").mkdir()
    for k in (1, 2, 3, 4, 44):
        rgb, vessels, _ = fundus(60, 70, seed=k)
        for path, array in (
            (root / "stare-images" / f"im{k:04d}.ppm.gz", rgb),
            (root / "labels-ah" / f"im{k:04d}.ah.ppm.gz", np.stack([vessels * 255] * 3, -1)),
        ):
            buffer = io.BytesIO()
            Image.fromarray(array.astype(np.uint8)).save(buffer, format="PPM")
            path.write_bytes(gzip.compress(buffer.getvalue()))
    Image.fromarray(fundus(60, 70, 9)[0]).save(root / "stare-images" / "im0009.ppm")  # unlabelled: ignored
    test = cl.data.load("stare", split="test", root=root, n_test=2)
    assert test.ids == ["im0004", "im0044"]
    pool = cl.data.load("stare", split="trainval", root=root, n_test=2)
    assert pool.ids == ["im0001", "im0002", "im0003"]
    loo = cl.data.load("stare", split="test", root=root, test_ids=["im0002"])
    assert (
        loo.ids == ["im0002"] and len(cl.data.load("stare", "trainval", root=root, test_ids=["im0002"])) == 4
    )
    s = test[0]
    _, vessels, fov = fundus(60, 70, seed=4)
    assert s["image"].shape == (3, 60, 70)
    assert torch.equal(s["mask"][0].bool(), torch.from_numpy(vessels))
    iou = (s["fov"][0].bool().numpy() & fov).sum() / (s["fov"][0].bool().numpy() | fov).sum()
    assert iou > 0.85  # derived FOV (eroded by 2 px) matches the true disc
    with pytest.raises(DatasetLayoutError, match="labels-vk"):
        cl.data.load("stare", root=root, annotator="vk")


def test_chase_fixture_jpg_with_0_1_png_labels(tmp_path):
    root = tmp_path / "CHASE_DB1"
    root.mkdir()
    for k in range(1, 4):
        for eye in "LR":
            rgb, vessels, _ = fundus(48, 50, seed=k)
            Image.fromarray(rgb).save(root / f"Image_{k:02d}{eye}.jpg", quality=95)
            Image.fromarray(vessels.astype(np.uint8)).save(
                root / f"Image_{k:02d}{eye}_1stHO.png"
            )  # values {0,1}
            Image.fromarray(vessels).save(root / f"Image_{k:02d}{eye}_2ndHO.png")  # mode "1"
    test = cl.data.load("chase_db1", split="test", root=root, n_test=2)
    assert test.ids == ["Image_03L", "Image_03R"]
    assert len(cl.data.load("chase_db1", split="train", root=root, n_test=2, val_fraction=0.25)) == 3
    _, vessels, _ = fundus(48, 50, seed=3)
    for annotator in ("1stHO", "2ndHO"):
        s = cl.data.load("chase_db1", split="test", root=root, n_test=2, annotator=annotator)[0]
        assert torch.equal(s["mask"][0].bool(), torch.from_numpy(vessels))
        assert 0.3 < s["fov"].mean() < 0.7


def test_ecssd_fixture(tmp_path):
    root = tmp_path / "ECSSD"
    (root / "images").mkdir(parents=True)
    (root / "ground_truth_mask").mkdir()
    rng = np.random.default_rng(0)
    for k in range(1, 6):
        h, w = 30 + k, 40
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(
            root / "images" / f"{k:04d}.jpg"
        )
        mask = np.zeros((h, w), np.uint8)
        mask[5:20, 10:30] = 255
        mask[4, 10:30] = 100  # an anti-aliased edge: below the > 127 threshold
        Image.fromarray(mask).save(root / "ground_truth_mask" / f"{k:04d}.png")
    test = cl.data.load("ecssd", split="test", root=root, n_test=1)
    assert test.ids == ["0005"]
    s = test[0]
    assert s["image"].shape == (3, 35, 40) and s["mask"].sum() == 15 * 20
    assert len(cl.data.load("ecssd", "train", root=root, n_test=1, val_fraction=0.25)) == 3


def test_derive_fov_ignores_noise_and_text():
    rgb, _, fov = fundus(80, 90, seed=0)
    rgb[2:6, 2:30] = 255  # a bright caption outside the aperture
    found = derive_fov(rgb, erode=0)
    assert not found[2:6, 2:30].any()
    assert (found & fov).sum() / (found | fov).sum() > 0.95
