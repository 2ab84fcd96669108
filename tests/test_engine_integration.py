"""The engine with the course's own models and data wrappers."""

import torch
from torch.utils.data import Dataset

import course_lib as cl


class _Blobs(Dataset):
    def __init__(self, n: int, size: int):
        g = torch.Generator().manual_seed(0)
        self.images = torch.rand(n, 1, size, size, generator=g)
        self.masks = (self.images > 0.6).float()

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return {"image": self.images[i], "mask": self.masks[i], "fov": torch.ones_like(self.masks[i])}


class _EpochSpy(_Blobs):
    def __init__(self, *args):
        super().__init__(*args)
        self.epochs_seen = []

    def set_epoch(self, epoch):
        self.epochs_seen.append(epoch)


def test_valid_convolution_model_trains_on_cropped_targets():
    model = cl.create_model("unet_original", widths=(4, 8, 16, 32, 64))
    data = _Blobs(2, 188)  # the smallest valid input: the output is 4 x 4
    history = cl.engine.fit(model, data, data, epochs=1, batch_size=2, progress=False, loss="weighted_ce")
    assert history.epochs == 1
    prob = cl.engine.predict(model, data)
    assert prob.shape == (2, 1, 4, 4)
    assert 0 <= cl.engine.evaluate(model, data)["accuracy"] <= 1


def test_padded_model_still_rejects_a_mismatched_mask():
    model = cl.create_model("unet", in_channels=1, widths=(4, 8))

    class Wrong(_Blobs):
        def __getitem__(self, i):
            sample = super().__getitem__(i)
            sample["mask"] = sample["mask"][:, :-2, :-2]
            return sample

    try:
        cl.engine.fit(model, Wrong(2, 16), epochs=1, progress=False)
    except cl.engine.TrainingError as err:
        assert "16x16" in str(err) and "mask is 14x14" in str(err)
    else:
        raise AssertionError("a mask smaller than the prediction must be an error")


def test_epoch_aware_datasets_are_told_the_epoch():
    data = _EpochSpy(2, 16)
    model = cl.create_model("unet", in_channels=1, widths=(4, 8))
    cl.engine.fit(model, data, epochs=3, batch_size=2, progress=False)
    assert data.epochs_seen == [1, 2, 3]
