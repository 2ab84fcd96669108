"""Joint transforms: same parameters for image and labels, nearest for labels, determinism."""

import pytest
import torch
import torch.nn.functional as F

from course_lib.data.transforms import (
    Augmented,
    ColorJitter,
    Compose,
    ElasticDeformation,
    GaussianNoise,
    Normalize,
    PadTo,
    PadToMultiple,
    RandomCrop,
    RandomFlip,
    RandomPatches,
    RandomRotation,
    Resize,
    crop_back,
    make_generator,
)


def blob_sample(h: int = 64, w: int = 48, seed: int = 0) -> dict:
    """An image whose first channel equals its mask, plus fov, weight and instances."""
    g = torch.Generator().manual_seed(seed)
    smooth = F.avg_pool2d(torch.rand(1, 1, h, w, generator=g), 9, stride=1, padding=4)[0]
    mask = (smooth > smooth.median()).float()
    image = torch.cat([mask, torch.rand(2, h, w, generator=g) * 0.5])
    instances = (torch.arange(h * w).reshape(1, h, w) // (h * w // 5) + 1).long()
    return {
        "image": image,
        "mask": mask,
        "fov": torch.ones(1, h, w),
        "weight": 1 + mask,
        "instances": instances,
    }


class ListDataset(torch.utils.data.Dataset):
    def __init__(self, samples):
        self.samples = samples

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, i):
        return self.samples[i]


def assert_labels_valid(out: dict, original: dict) -> None:
    assert set(out["mask"].unique().tolist()) <= {0.0, 1.0}
    assert set(out["fov"].unique().tolist()) <= {0.0, 1.0}
    assert out["instances"].dtype == torch.int64
    assert set(out["instances"].unique().tolist()) <= set(original["instances"].unique().tolist()) | {0}


def test_rotation_by_90_matches_rot90_exactly():
    sample = blob_sample(40, 40)
    out = RandomRotation(degrees=(90, 90))(sample, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out["mask"], torch.rot90(sample["mask"], k=-1, dims=(-2, -1)))
    assert torch.equal(out["instances"], torch.rot90(sample["instances"], k=-1, dims=(-2, -1)))
    torch.testing.assert_close(
        out["image"], torch.rot90(sample["image"], k=-1, dims=(-2, -1)), atol=1e-4, rtol=0
    )


@pytest.mark.parametrize(
    "transform", [RandomRotation(), ElasticDeformation(grid=3, sigma=10), Resize((96, 72))], ids=str
)
def test_geometric_transforms_keep_labels_binary_and_aligned(transform):
    sample = blob_sample()
    out = transform(sample, generator=torch.Generator().manual_seed(3))
    assert_labels_valid(out, sample)
    assert out["image"].shape[-2:] == out["mask"].shape[-2:] == out["instances"].shape[-2:]
    # channel 0 of the image equals the mask, so after the joint warp they still agree almost everywhere
    agree = ((out["image"][0] > 0.5).float() == out["mask"][0]).float().mean()
    assert agree > 0.95
    assert not torch.equal(out["mask"], sample["mask"]) or isinstance(transform, Resize)


def test_common_bug_7_bilinear_or_bicubic_labels_are_not_labels():
    """Resampling a mask with bilinear/bicubic creates fractional values; nearest (what we use) does not."""
    sample = blob_sample()
    rotation = RandomRotation(degrees=(30, 30))
    ours = rotation(sample)["mask"]
    assert set(ours.unique().tolist()) <= {0.0, 1.0}
    theta = torch.tensor([[[0.866, -0.5, 0.0], [0.5, 0.866, 0.0]]])
    grid = F.affine_grid(theta, (1, 1, 64, 48), align_corners=False)
    for mode in ("bilinear", "bicubic"):
        wrong = F.grid_sample(sample["mask"][None], grid, mode=mode, align_corners=False)
        fractional = ((wrong > 0.01) & (wrong < 0.99)).float().mean()
        assert fractional > 0.02, mode
    resized = F.interpolate(sample["mask"][None], size=(50, 30), mode="bicubic", align_corners=False)
    assert ((resized > 0.01) & (resized < 0.99)).any()


def test_elastic_displacements_have_the_papers_statistics():
    t = ElasticDeformation(grid=3, sigma=10.0)
    g = torch.Generator().manual_seed(0)
    fields = torch.stack([t.displacement(33, 33, g) for _ in range(300)])
    # bicubic with align_corners=True passes through the 3x3 control points (corners, edges, centre)
    control = fields[:, ::16, ::16, :]
    assert control.shape[1:3] == (3, 3)
    assert 9.0 < control.std().item() < 11.0
    assert abs(control.mean().item()) < 1.0


def test_flips_are_exact_and_joint():
    sample = blob_sample()
    out = RandomFlip(p=1.0)(sample)
    for key in ("image", "mask", "fov", "weight", "instances"):
        assert torch.equal(out[key], torch.flip(sample[key], (-1, -2)))
    assert RandomFlip(p=0.0)(sample)["mask"] is sample["mask"]


def test_photometric_transforms_touch_only_the_image():
    sample = blob_sample()
    g = torch.Generator().manual_seed(0)
    out = Compose([ColorJitter(0.3, 0.3, 0.3), GaussianNoise(std=0.05)])(sample, generator=g)
    assert out["image"].min() >= 0 and out["image"].max() <= 1
    assert not torch.allclose(out["image"], sample["image"])
    for key in ("mask", "fov", "weight", "instances"):
        assert out[key] is sample[key]
    flat = {"image": torch.full((1, 200, 200), 0.5)}
    noisy = GaussianNoise(std=0.05)(flat, generator=torch.Generator().manual_seed(1))["image"]
    assert abs(noisy.std().item() - 0.05) < 0.003


def test_pad_to_592_and_crop_back():
    sample = blob_sample(584, 565)
    out = PadTo(592)(sample)
    assert out["image"].shape == (3, 592, 592) and out["mask"].shape == (1, 592, 592)
    assert out["crop_box"].tolist() == [4, 13, 584, 565]
    for key in ("image", "mask", "fov", "instances"):
        assert torch.equal(crop_back(out[key], out["crop_box"]), sample[key])
    padded_fov = out["fov"].clone()
    padded_fov[..., 4:588, 13:578] = 0
    assert padded_fov.sum() == 0  # padding lies outside the FOV
    batch = torch.stack([out["crop_box"], out["crop_box"]])
    assert crop_back(torch.zeros(2, 1, 592, 592), batch).shape == (2, 1, 584, 565)
    with pytest.raises(ValueError, match="larger"):
        PadTo(500)(sample)


def test_pad_to_multiple_of_2_to_the_depth():
    sample = blob_sample(584, 565)
    out = PadToMultiple(16, mode="reflect")(sample)
    assert out["image"].shape[-2:] == (592, 576)
    assert torch.equal(crop_back(out["image"], out["crop_box"]), sample["image"])
    assert out["mask"][..., :4, :].sum() == 0  # labels are zero-padded even when the image is mirrored
    assert out["image"][..., :4, :].abs().sum() > 0


def test_random_crop_and_normalize():
    sample = blob_sample()
    out = RandomCrop(32)(sample, generator=torch.Generator().manual_seed(0))
    assert out["image"].shape == (3, 32, 32) and out["instances"].shape == (1, 32, 32)
    assert torch.equal((out["image"][0] > 0.5).float(), out["mask"][0])
    small = RandomCrop(100)(sample, generator=torch.Generator().manual_seed(0))
    assert small["image"].shape == (3, 100, 100) and "crop_box" not in small
    norm = Normalize()(sample)["image"]
    torch.testing.assert_close(norm.mean(dim=(1, 2)), torch.zeros(3), atol=1e-5, rtol=0)
    fixed = Normalize(mean=[0.5, 0.5, 0.5], std=[0.25, 0.25, 0.25])(sample)["image"]
    torch.testing.assert_close(fixed, (sample["image"] - 0.5) / 0.25, atol=1e-4, rtol=0)


def test_determinism_with_seed_generator_and_augmented_epochs():
    sample = blob_sample()
    pipeline = Compose([RandomRotation(), RandomFlip(), ElasticDeformation(), ColorJitter(), GaussianNoise()])
    a = pipeline(sample, generator=torch.Generator().manual_seed(7))
    b = pipeline(sample, generator=torch.Generator().manual_seed(7))
    c = pipeline(sample, generator=torch.Generator().manual_seed(8))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["image"], c["image"])
    seeded_1, seeded_2 = RandomRotation(seed=3), RandomRotation(seed=3)
    assert torch.equal(seeded_1(sample)["mask"], seeded_2(sample)["mask"])

    data = Augmented(ListDataset([blob_sample(seed=i) for i in range(3)]), pipeline, seed=0)
    first = [data[i]["image"] for i in range(3)]
    assert all(torch.equal(x, data[i]["image"]) for i, x in enumerate(first))  # same index -> same draw
    data.set_epoch(1)
    assert not torch.equal(first[0], data[0]["image"])
    data.set_epoch(0)
    assert torch.equal(first[0], data[0]["image"])
    assert make_generator(0, 1, 2).initial_seed() == make_generator(0, 1, 2).initial_seed()
    assert make_generator(0, 1, 2).initial_seed() != make_generator(0, 2, 1).initial_seed()


def test_random_patches_sample_foreground_and_are_deterministic():
    data = ListDataset([blob_sample(seed=i) for i in range(2)])
    patches = RandomPatches(data, patch_size=16, patches_per_image=5, foreground_fraction=1.0, seed=1)
    assert len(patches) == 10
    for i in range(len(patches)):
        patch = patches[i]
        assert patch["image"].shape == (3, 16, 16) and patch["mask"].shape == (1, 16, 16)
        assert patch["mask"].sum() > 0  # centred on a foreground pixel
        assert torch.equal((patch["image"][0] > 0.5).float(), patch["mask"][0])
    assert torch.equal(patches[3]["image"], patches[3]["image"])
    tiny = RandomPatches(ListDataset([blob_sample(8, 8)]), patch_size=12, patches_per_image=1)
    assert tiny[0]["image"].shape == (3, 12, 12)
    with pytest.raises(IndexError):
        patches[10]


def test_make_loader_is_seeded_and_colab_safe():
    from course_lib.data.loader import make_loader

    data = ListDataset(
        [{"image": torch.full((1, 4, 4), float(i)), "mask": torch.zeros(1, 4, 4)} for i in range(10)]
    )
    order = [
        b["image"][:, 0, 0, 0].tolist() for b in make_loader(data, 3, shuffle=True, seed=5, device="cpu")
    ]
    again = [
        b["image"][:, 0, 0, 0].tolist() for b in make_loader(data, 3, shuffle=True, seed=5, device="cpu")
    ]
    other = [
        b["image"][:, 0, 0, 0].tolist() for b in make_loader(data, 3, shuffle=True, seed=6, device="cpu")
    ]
    assert order == again and order != other
    assert sorted(x for batch in order for x in batch) == list(range(10))
    cpu = make_loader(data, 2, device="cpu")
    assert cpu.num_workers == 0 and not cpu.pin_memory
    gpu = make_loader(data, 2, device="cuda", num_workers=1)  # constructing spawns nothing
    assert gpu.pin_memory and gpu.persistent_workers and gpu.num_workers == 1
    with pytest.warns(UserWarning, match="capped at 2"):
        assert make_loader(data, 2, device="cpu", num_workers=8).num_workers == 2
    with pytest.raises(ValueError, match="batch_size"):
        make_loader(data, 0)
