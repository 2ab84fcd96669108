"""Figures of cl.viz: input shapes (torch and numpy), axes counts, overlay colours, errors, style."""

import matplotlib as mpl

mpl.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure

import course_lib as cl

V = cl.viz
H = W = 24
BACKENDS = {"numpy": np.asarray, "torch": torch.as_tensor}


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(params=list(BACKENDS))
def conv(request):
    return BACKENDS[request.param]


def _rng(seed=0):
    return np.random.default_rng(seed)


def _mask(seed=0):
    yy, xx = np.mgrid[:H, :W]
    r = _rng(seed)
    cy, cx = r.uniform(6, 18, 2)
    return (((yy - cy) ** 2 + (xx - cx) ** 2) < 30).astype(np.float32)


def _sample(seed=0, channels=3):
    r = _rng(seed)
    return {"image": r.random((channels, H, W), dtype=np.float32), "mask": _mask(seed)[None],
            "fov": np.ones((1, H, W), np.float32), "weight": 1 + 9 * r.random((1, H, W), dtype=np.float32)}


def _n_axes(fig):
    assert isinstance(fig, Figure)
    return len(fig.axes)


# ---------------------------------------------------------------- overlay colours (pure function)
def test_overlay_rgb_pixel_colours():
    image = np.full((1, 2, 3), 0.5, np.float32)
    # columns: TP, FP, FN | TN, TN outside FOV, TP outside FOV
    pred = np.array([[0.9, 0.7, 0.2], [0.1, 0.3, 0.8]], np.float32)
    target = np.array([[1, 0, 1], [0, 0, 1]], np.float32)
    fov = np.array([[1, 1, 1], [1, 0, 0]], np.float32)
    rgb = V.overlay_rgb(image, pred, target, fov)
    assert rgb.shape == (2, 3, 3)
    np.testing.assert_allclose(rgb[0, 0], to_rgb(V.PALETTE["tp"]))
    np.testing.assert_allclose(rgb[0, 1], to_rgb(V.PALETTE["fp"]))
    np.testing.assert_allclose(rgb[0, 2], to_rgb(V.PALETTE["fn"]))
    np.testing.assert_allclose(rgb[1, 0], [0.5 * V.IMAGE_STRENGTH] * 3, rtol=1e-6)
    np.testing.assert_allclose(rgb[1, 1], [0.5 * V.OUTSIDE_FOV_STRENGTH] * 3, rtol=1e-6)
    np.testing.assert_allclose(rgb[1, 2], [0.5 * V.OUTSIDE_FOV_STRENGTH] * 3, rtol=1e-6)  # not coloured
    # the three error/hit colours are distinct and the grey image never reaches the TP white
    colours = {tuple(to_rgb(V.PALETTE[k])) for k in ("tp", "fp", "fn")}
    assert len(colours) == 3 and V.IMAGE_STRENGTH < 1


def test_overlay_rgb_threshold_bool_rgb_and_torch(conv):
    image = conv(np.ones((3, 1, 2), np.float32) * 0.25)
    pred = conv(np.array([[[0.6, 0.4]]], np.float32))
    target = conv(np.array([[[1.0, 1.0]]], np.float32))
    rgb = V.overlay_rgb(image, pred, target, threshold=0.5)
    np.testing.assert_allclose(rgb[0, 0], to_rgb(V.PALETTE["tp"]))
    np.testing.assert_allclose(rgb[0, 1], to_rgb(V.PALETTE["fn"]))
    rgb_hi = V.overlay_rgb(image, pred, target, threshold=0.7)
    np.testing.assert_allclose(rgb_hi[0, 0], to_rgb(V.PALETTE["fn"]))
    rgb_bool = V.overlay_rgb(image, np.array([[True, False]]), target, threshold=0.99)
    np.testing.assert_allclose(rgb_bool[0, 0], to_rgb(V.PALETTE["tp"]))


def test_confusion_and_dice_values():
    pred = np.array([[1, 1, 0, 0]], np.float32)
    target = np.array([[1, 0, 1, 0]], np.float32)
    m = V.confusion_masks(pred, target)
    assert [int(m[k].sum()) for k in ("tp", "fp", "fn", "tn")] == [1, 1, 1, 1]
    assert V.dice_score(m) == pytest.approx(2 / 4)
    fov = np.array([[1, 0, 0, 1]], np.float32)
    assert V.dice_score(V.confusion_masks(pred, target, fov)) == pytest.approx(1.0)
    assert V.dice_score(V.confusion_masks(np.zeros((2, 2)), np.zeros((2, 2)))) == 1.0


def test_overlay_size_mismatch_is_explained():
    with pytest.raises(ValueError, match="spatial sizes differ"):
        V.overlay_rgb(np.zeros((4, 4)), np.zeros((3, 3)), np.zeros((3, 3)))


# ---------------------------------------------------------------- figures
@pytest.mark.parametrize("shape", [(H, W), (1, H, W), (3, H, W), (1, 3, H, W)])
def test_overlay_accepts_image_shapes(conv, shape):
    image = conv(_rng().random(shape, dtype=np.float32))
    fig = V.overlay(image, conv(_mask(1)), conv(_mask(0)[None]), fov=conv(np.ones((H, W), np.float32)))
    assert _n_axes(fig) == 1
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels[:3] == [V.LABELS[k] for k in ("tp", "fp", "fn")] and "outside FOV" in labels


def test_normalised_image_is_rescaled_for_display():
    img = torch.tensor(_rng().normal(size=(3, H, W)), dtype=torch.float32) * 2 - 1
    shown = V.overlay_rgb(img, _mask(0), _mask(0))
    assert shown.min() >= 0 and shown.max() <= 1


def test_overlay_draws_into_given_axes():
    fig, axes = plt.subplots(1, 2)
    assert V.overlay(np.zeros((H, W)), _mask(0), _mask(1), ax=axes[1]) is fig
    assert len(axes[1].images) == 1 and len(axes[0].images) == 0


def test_show_samples_forms(conv):
    samples = [{k: conv(v) for k, v in _sample(s).items()} for s in range(3)]
    # list of dicts: image, mask + extras fov, weight; one colourbar for the weight column
    assert _n_axes(V.show_samples(samples, n=2)) == 2 * 4 + 1
    assert _n_axes(V.show_samples(samples[0], extras=False)) == 2
    batch = {k: (torch.stack if conv is torch.as_tensor else np.stack)([s[k] for s in samples])
             for k in samples[0]}
    batch["name"] = ["a", "b", "c"]  # non-array entries are ignored
    assert _n_axes(V.show_samples(batch, n=4, keys=("image",), extras=False)) == 3
    grey = {"image": conv(np.zeros((H, W), np.float32)), "mask": conv(_mask(0)), "prob": conv(_mask(1) * 0.7)}
    assert _n_axes(V.show_samples([grey], titles=["one"])) == 3 + 1  # probability colourbar


def test_show_samples_dataset_and_errors():
    class DS:
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return _sample(i, channels=1)

    fig = V.show_samples(DS(), n=3, keys=("image", "mask", "weight"), extras=False)
    assert _n_axes(fig) == 3 * 3 + 1
    with pytest.raises(KeyError, match="keys are"):
        V.show_samples(_sample(), keys=("image", "nope"))
    with pytest.raises(TypeError):
        V.show_samples(42)


def test_show_predictions_shapes(conv):
    imgs = conv(_rng().random((5, 3, H, W), dtype=np.float32))
    targets = conv(np.stack([_mask(s)[None] for s in range(5)]))
    probs = conv(np.clip(np.stack([_mask(s + 1)[None] for s in range(5)]) * 0.8 + 0.1, 0, 1))
    fovs = conv(np.ones((5, 1, H, W), np.float32))
    fig = V.show_predictions(imgs, probs, targets, fovs, n=3)
    assert _n_axes(fig) == 3 * 4 + 1
    assert all(ax.get_xlabel().startswith("Dice ") for ax in fig.axes[3:12:4])
    fig1 = V.show_predictions(imgs[0], probs[0], targets[0], n=4, scores=False)  # one CxHxW sample
    assert _n_axes(fig1) == 4 + 1 and fig1.axes[3].get_xlabel() == ""
    masks3 = conv(np.stack([_mask(s) for s in range(3)]))  # N x H x W maps
    assert _n_axes(V.show_predictions([imgs[i] for i in range(3)], masks3 * 0.5, masks3)) == 13


def test_show_predictions_dice_in_label_is_correct():
    target = _mask(0)[None, None]
    fig = V.show_predictions(np.zeros((1, 1, H, W)), target * 0.9, target)
    assert fig.axes[3].get_xlabel() == "Dice 1.000"


def test_show_predictions_refuses_logits_and_mismatched_batches():
    with pytest.raises(ValueError, match="logits"):
        V.show_predictions(np.zeros((2, 1, H, W)), np.full((2, 1, H, W), 3.0), np.zeros((2, 1, H, W)))
    with pytest.raises(ValueError, match="batch sizes differ"):
        V.show_predictions(np.zeros((2, 1, H, W)), np.zeros((3, 1, H, W)), np.zeros((2, 1, H, W)))


def test_image_input_errors_are_actionable():
    with pytest.raises(ValueError, match="feature_map_grid"):
        V.overlay(np.zeros((8, H, W)), _mask(0), _mask(0))
    with pytest.raises(ValueError, match="batch of 2"):
        V.image_with_box(np.zeros((2, 3, H, W)), None)
    with pytest.raises(ValueError, match="expected one map"):
        V.heatmap(np.zeros((2, 3, H, W)))


# ---------------------------------------------------------------- learning curves
def _history_rows(n=6):
    dice = [0.2, 0.5, 0.7, 0.65, 0.6, 0.55][:n]
    return [{"epoch": i + 1, "train_loss": 1 / (i + 1), "val_loss": 1.2 / (i + 1) + 0.01 * i,
             "val_dice": dice[i], "train_dice": dice[i] + 0.05} for i in range(n)]


class _History:
    """Mimics the engine's History (mapping access + to_dict)."""

    def __init__(self, rows):
        self.rows = rows

    def to_dict(self):
        return {k: [r[k] for r in self.rows] for k in self.rows[0]}


@pytest.mark.parametrize("form", ["rows", "dict", "history"])
def test_learning_curves_history_forms(form):
    rows = _history_rows()
    history = {"rows": rows, "dict": _History(rows).to_dict(), "history": _History(rows)}[form]
    fig = V.plot_learning_curves(history)
    assert _n_axes(fig) == 2
    loss_ax, metric_ax = fig.axes
    assert {line.get_label() for line in loss_ax.lines} >= {"train loss", "val loss"}
    labels = [t.get_text() for t in metric_ax.get_legend().get_texts()]
    assert any("best: epoch 3" in t and "0.700" in t for t in labels)


def test_learning_curves_single_axes_and_loss_only():
    fig, ax = plt.subplots()
    assert V.plot_learning_curves(_history_rows(), ax=ax) is fig
    assert len(fig.axes) == 2  # twin axis for the metric
    fig2 = V.plot_learning_curves({"train_loss": [1.0, 0.5], "val_loss": [1.1, None]}, metrics=())
    assert _n_axes(fig2) == 1
    labels = [t.get_text() for t in fig2.axes[0].get_legend().get_texts()]
    assert any("best: epoch 1" in t for t in labels)  # NaN epoch ignored; lower loss is better


def test_learning_curves_errors():
    with pytest.raises(KeyError, match="metrics it has"):
        V.plot_learning_curves(_history_rows(), metrics=("iou",))
    with pytest.raises(ValueError, match="empty"):
        V.plot_learning_curves({"train_loss": []})
    with pytest.raises(TypeError):
        V.plot_learning_curves(3.0)


# ---------------------------------------------------------------- feature maps, ROC, bars, boxes
@pytest.mark.parametrize("shape,shown", [((1, 10, 8, 8), 10), ((20, 8, 8), 16), ((8, 8), 1)])
def test_feature_map_grid(shape, shown):
    act = torch.as_tensor(_rng().random(shape, dtype=np.float32))
    assert _n_axes(V.feature_map_grid(act, title="enc1")) == shown
    assert _n_axes(V.feature_map_grid(act, normalize="shared")) == shown + 1


def test_feature_map_grid_marks_constant_channels_and_validates():
    act = torch.rand(1, 4, 8, 8)
    act[0, 2] = 0
    fig = V.feature_map_grid(act, channels=[0, 2])
    assert [ax.get_title() for ax in fig.axes] == ["ch 0", "ch 2 (constant)"]
    with pytest.raises(ValueError, match="one sample"):
        V.feature_map_grid(torch.rand(2, 4, 8, 8))
    with pytest.raises(ValueError, match="normalize"):
        V.feature_map_grid(act, normalize="global")


def test_plot_roc_forms(conv):
    fpr = conv(np.linspace(0, 1, 50))
    tpr = conv(np.sqrt(np.linspace(0, 1, 50)))
    fig = V.plot_roc(fpr, tpr, auc=0.9, reference_points={"U-Net": (0.018, 0.7537), "CE-Net": 0.9779})
    assert _n_axes(fig) == 1
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "ours (AUC 0.9000)" in labels and "U-Net" in labels and "CE-Net: AUC 0.9779" in labels
    fig2 = V.plot_roc({"a": (fpr, tpr), "b": (fpr, tpr, 0.8)}, reference_points=["published: 0.97"],
                      limits=(0, 0.3, 0.5, 1))
    labels2 = [t.get_text() for t in fig2.axes[0].get_legend().get_texts()]
    assert labels2 == ["chance", "a", "b (AUC 0.8000)", "published: 0.97"]
    with pytest.raises(ValueError):
        V.plot_roc(fpr)


def test_compare_bars():
    fig = V.compare_bars({"AUC": 0.971, "F1": 0.80}, {"AUC": 0.9755, "F1": 0.8142, "Acc": 0.9531}, "score")
    ax = fig.axes[0]
    assert len(ax.patches) == 5  # 2 ours + 3 published
    texts = {t.get_text() for t in ax.texts}
    assert "0.971" in texts and "0.976" in texts  # 0.9755 rounds to 3 decimals
    fig2 = V.compare_bars({"a very long ablation name": 1.5, "b": 2.0}, ylabel="Dice")
    assert len(fig2.axes[0].patches) == 2 and fig2.axes[0].get_legend() is None


@pytest.mark.parametrize("shape", [(H, W), (3, H, W)])
def test_image_with_box_and_heatmap(conv, shape):
    img = conv(_rng().random(shape, dtype=np.float32))
    footprint = conv(_mask(0) > 0)
    fig = V.image_with_box(img, (2, 3, 30, 20), mask=footprint, point=(10, 10))
    assert _n_axes(fig) == 1
    ax = fig.axes[0]
    assert ax.get_xlim()[1] >= 19.5 and ax.get_ylim()[0] >= 29.5  # box beyond the image is shown in full
    assert _n_axes(V.heatmap(conv(_rng().random((1, 1, H, W))), title="ERF")) == 2
    assert _n_axes(V.heatmap(conv(_rng().normal(size=(H, W))), symmetric=True, colorbar=False)) == 1
    with pytest.raises(ValueError, match="box"):
        V.image_with_box(img, (5, 5, 2, 8))


# ---------------------------------------------------------------- style and saving
def test_style_is_scoped_and_save_figure(tmp_path):
    before = dict(mpl.rcParams)
    fig = V.compare_bars({"a": 0.5}, ylabel="x")
    assert fig.axes[0].yaxis.label.get_fontsize() == pytest.approx(V.COURSE_RC["axes.labelsize"])
    assert dict(mpl.rcParams) == before
    with V.use_course_style():
        assert mpl.rcParams["font.size"] == V.COURSE_RC["font.size"]
    path = V.save_figure(fig, tmp_path / "a" / "b" / "fig.png")
    assert path.exists() and path.stat().st_size > 1000
    from PIL import Image

    assert Image.open(path).info.get("dpi", (150, 150))[0] == pytest.approx(150, abs=1)
