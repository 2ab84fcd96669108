"""Receptive fields three ways: analytic arithmetic, the exact footprint, and the effective RF.

- :func:`analytic`: the per-layer table of Araujo, Norris and Sim, "Computing receptive fields of
  convolutional neural networks", Distill 2019, for a *sequential* stack of convs and pools::

      r_0 = sum_l (k_l - 1) * prod_{i<l} s_i + 1,   with a dilated kernel counting as d (k - 1) + 1

  computed layer by layer as ``rf += (k_eff - 1) * jump``, ``jump *= s`` and
  ``start += ((k_eff - 1) / 2 - padding) * jump`` (centre of output pixel 0, in input pixels).
- :func:`footprint`: for *any* course model (skips, transposed convs, both padding styles), the exact
  set of input pixels that can change a given output pixel. It is the analytic box when the model is
  a plain stack and the box lies inside the image; it differs when padding clips it, when dilation
  leaves holes (gridding), or when paths of different depth meet (U-Net skips).
- :func:`effective_receptive_field`: Luo et al., "Understanding the effective receptive field in deep
  CNNs", NeurIPS 2016: ``|dy/dx|`` with the model's actual weights, a heat map that is concentrated
  in a small, roughly Gaussian part of the footprint and changes with training.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from course_lib.blocks.dropblock import DropBlock2d

__all__ = [
    "LayerRF", "analytic", "bounding_box", "conv_stack", "effective_receptive_field", "erf_summary",
    "footprint", "rf_box",
]

# Layers that change neither where nor how far an output pixel looks (per-pixel maps).
_POINTWISE = (
    nn.BatchNorm2d, nn.ReLU, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Sigmoid, nn.Tanh,
    nn.Identity, nn.Dropout, nn.Dropout2d, DropBlock2d,
)
# Per-sample statistics (every output depends on the whole map through them); see footprint().
_PER_SAMPLE_NORMS = (nn.GroupNorm, nn.InstanceNorm2d, nn.LayerNorm, nn.LocalResponseNorm)


@dataclass(frozen=True)
class LayerRF:
    """One row of the analytic table: the layer's geometry and the receptive field after it.

    ``rf``: size in input pixels; ``jump``: input pixels between adjacent output pixels;
    ``start``: centre of output pixel 0's receptive field in input pixel coordinates;
    ``size``: output size when an ``input_size`` was given.
    """

    name: str
    kernel: int
    stride: int
    dilation: int
    padding: int
    rf: int
    jump: int
    start: float
    size: int | None = None


def _single(value: int | Sequence[int], what: str, module: nn.Module) -> int:
    if isinstance(value, int):
        return value
    if len(set(value)) != 1:
        raise ValueError(f"{type(module).__name__} has a non-square {what} {tuple(value)}; analytic() "
                         "handles square geometry only: use footprint() instead.")
    return int(value[0])


def _geometry(module: nn.Module) -> tuple[int, int, int, int] | None:
    """(kernel, stride, dilation, padding) of a conv or pool; None for a pointwise layer."""
    if isinstance(module, nn.Conv2d):
        kernel = _single(module.kernel_size, "kernel", module)
        dilation = _single(module.dilation, "dilation", module)
        if isinstance(module.padding, str):  # "valid" or "same" (stride 1); "same" pads d(k-1)//2 first
            padding = 0 if module.padding == "valid" else dilation * (kernel - 1) // 2
        else:
            padding = _single(module.padding, "padding", module)
        return kernel, _single(module.stride, "stride", module), dilation, padding
    if isinstance(module, nn.MaxPool2d | nn.AvgPool2d):
        kernel = _single(module.kernel_size, "kernel", module)
        stride = _single(module.stride if module.stride is not None else kernel, "stride", module)
        dilation = _single(getattr(module, "dilation", 1), "dilation", module)
        return kernel, stride, dilation, _single(module.padding, "padding", module)
    if isinstance(module, _POINTWISE):
        return None
    raise ValueError(
        f"analytic() handles sequential stacks of Conv2d, MaxPool2d, AvgPool2d and pointwise layers; "
        f"it cannot place a {type(module).__name__}. Use footprint(model, input_shape, pixel) for "
        "models with branches, skips or upsampling."
    )


def _flatten(stack: nn.Module) -> Iterator[tuple[str, nn.Module]]:
    if isinstance(stack, nn.Sequential):
        for name, child in stack.named_children():
            for sub_name, leaf in _flatten(child):
                yield (f"{name}.{sub_name}" if sub_name else name), leaf
    else:
        yield "", stack


def analytic(
    layers: nn.Module | Iterable[Sequence[int]], input_size: int | None = None
) -> list[LayerRF]:
    """The receptive-field table of a sequential stack, one row per conv/pool layer.

    ``layers`` is an ``nn.Sequential`` (pointwise layers are skipped; nested Sequentials flattened)
    or a list of ``(kernel, stride[, dilation[, padding]])`` tuples. The last row's ``rf`` is the
    receptive field of the whole stack.
    """
    rows: list[tuple[str, tuple[int, int, int, int]]] = []
    if isinstance(layers, nn.Module):
        for name, module in _flatten(layers):
            geometry = _geometry(module)
            if geometry is not None:
                rows.append((name or type(module).__name__, geometry))
    else:
        for index, spec in enumerate(layers):
            spec = tuple(int(v) for v in spec)
            if not 2 <= len(spec) <= 4:
                raise ValueError(f"Layer {index}: expected (kernel, stride[, dilation[, padding]]), "
                                 f"got {spec}.")
            kernel, stride, dilation, padding = (*spec, *(1, 1, 1, 0)[len(spec):])
            rows.append((f"layer{index}", (kernel, stride, dilation, padding)))
    rf, jump, start, size = 1, 1, 0.0, input_size
    table = []
    for name, (kernel, stride, dilation, padding) in rows:
        if min(kernel, stride, dilation) < 1 or padding < 0:
            raise ValueError(f"{name}: kernel, stride and dilation must be >= 1 and padding >= 0.")
        effective = dilation * (kernel - 1) + 1
        start += ((effective - 1) / 2 - padding) * jump
        rf += (effective - 1) * jump
        jump *= stride
        if size is not None:
            size = (size + 2 * padding - effective) // stride + 1
            if size < 1:
                raise ValueError(f"{name}: the map is empty after this layer (input_size={input_size}).")
        table.append(LayerRF(name, kernel, stride, dilation, padding, rf, jump, start, size))
    return table


def rf_box(row: LayerRF | Sequence[LayerRF], pixel: tuple[int, int]) -> tuple[float, float, float, float]:
    """The analytic receptive field of output ``pixel`` = (i, j) as ``(top, left, bottom, right)``.

    Inclusive input-pixel indices (not clipped to the image). To draw it with matplotlib:
    ``Rectangle((left - 0.5, top - 0.5), right - left + 1, bottom - top + 1)``.
    """
    if not isinstance(row, LayerRF):
        row = row[-1]
    half = (row.rf - 1) / 2
    centre_i, centre_j = row.start + pixel[0] * row.jump, row.start + pixel[1] * row.jump
    return centre_i - half, centre_j - half, centre_i + half, centre_j + half


def bounding_box(mask: torch.Tensor) -> tuple[int, int, int, int]:
    """``(top, left, bottom, right)`` (inclusive) of the True pixels of a 2-D mask."""
    rows, cols = torch.nonzero(mask.any(1)).flatten(), torch.nonzero(mask.any(0)).flatten()
    if rows.numel() == 0:
        raise ValueError("The mask is empty: no input pixel reaches this output pixel.")
    return int(rows[0]), int(cols[0]), int(rows[-1]), int(cols[-1])


def _mean_pool(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False, **_):
    """A stand-in for max-pooling with the same geometry whose gradient reaches every input."""
    if return_indices:
        raise ValueError("footprint() cannot follow max-pooling with return_indices (max-unpooling).")
    if dilation not in (1, (1, 1)):
        if ceil_mode:
            raise ValueError("footprint() does not support dilated max-pooling with ceil_mode=True.")
        k = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
        weight = input.new_ones(input.shape[1], 1, *k) / (k[0] * k[1])
        return F.conv2d(input, weight, stride=stride or kernel_size, padding=padding, dilation=dilation,
                        groups=input.shape[1])
    return F.avg_pool2d(input, kernel_size, stride, padding, ceil_mode=ceil_mode)


def _adaptive_mean(input, output_size, return_indices=False):
    if return_indices:
        raise ValueError("footprint() cannot follow adaptive max-pooling with return_indices.")
    return F.adaptive_avg_pool2d(input, output_size)


@contextlib.contextmanager
def _max_pool_as_mean() -> Iterator[None]:
    # Max-pool gradients reach only the arg-max; a mean pool of the same geometry has the same
    # connectivity and sends gradient to every pixel under the window.
    saved = F.max_pool2d, F.adaptive_max_pool2d
    F.max_pool2d, F.adaptive_max_pool2d = _mean_pool, _adaptive_mean
    try:
        yield
    finally:
        F.max_pool2d, F.adaptive_max_pool2d = saved


def _positive_probe(model: nn.Module, identity_for: tuple[type, ...]) -> nn.Module:
    """A float64 CPU copy whose every path from input to output has a positive derivative."""
    probe = copy.deepcopy(model).to("cpu", torch.float64).eval()
    replace = (*_PER_SAMPLE_NORMS, *identity_for)
    for parent in probe.modules():
        for name, child in list(parent.named_children()):
            if isinstance(child, replace):
                setattr(parent, name, nn.Identity())
    with torch.no_grad():
        for module in probe.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.running_var is not None:
                module.running_mean.zero_()
                module.running_var.fill_(1.0)
        for param in probe.parameters():
            if param.dim() >= 2:  # weights: 1 / fan-in keeps activations of order one
                param.fill_(param.shape[0] / param.numel())
            else:  # biases, norm shifts, scalars: positive, so no ReLU ever sits at zero
                param.fill_(0.1)
        for module in probe.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.weight is not None:
                module.weight.fill_(1.0)
    return probe


def _as_batch_shape(input_shape: Sequence[int]) -> tuple[int, int, int, int]:
    shape = tuple(int(s) for s in input_shape)
    if len(shape) == 3:
        shape = (1, *shape)
    if len(shape) != 4:
        raise ValueError(f"input_shape must be (C, H, W) or (N, C, H, W), got {tuple(input_shape)}.")
    return (1, *shape[1:])


def _select(output, output_index: int) -> torch.Tensor:
    if isinstance(output, list | tuple):
        output = output[output_index]
    if output.dim() != 4:
        raise ValueError(f"Expected the model to return (N, C, H, W) maps, got shape {tuple(output.shape)}.")
    return output


def _resolve_pixel(pixel: tuple[int, int] | None, height: int, width: int) -> tuple[int, int]:
    if pixel is None:
        return height // 2, width // 2
    i, j = int(pixel[0]), int(pixel[1])
    if not (-height <= i < height and -width <= j < width):
        raise ValueError(f"Output pixel {tuple(pixel)} is outside the {height}x{width} output.")
    return i % height, j % width


def footprint(
    model: nn.Module,
    input_shape: Sequence[int],
    pixel: tuple[int, int] | None = None,
    *,
    output_index: int = 0,
    identity_for: tuple[type, ...] = (),
) -> torch.Tensor:
    """Bool ``H x W`` mask of the input pixels that can change output pixel ``pixel`` (any channel).

    Exact connectivity, found by one backward pass through a float64 copy of ``model`` in eval mode
    whose weights, biases and BatchNorm scales are all positive and whose max-pools are swapped for
    mean-pools of the same geometry, fed an all-ones image: every local derivative on every path is
    then positive, so nothing cancels, no ReLU blocks and no arg-max hides a pixel. Independent of
    the model's width and weights. ``pixel`` is in output coordinates (default: the centre; negative
    indices count from the end); ``output_index`` picks the output of multi-output models.

    Global operations are honoured: an SE block's average pool makes every output depend on every
    input pixel. Pass ``identity_for=(SEBlock,)`` to see the convolutional footprint alone.
    Per-sample normalisations (GroupNorm, InstanceNorm, LayerNorm) are treated as per-pixel maps
    (strictly, their statistics also reach the whole image).
    """
    shape = _as_batch_shape(input_shape)
    probe = _positive_probe(model, tuple(identity_for))
    leaf = torch.ones(shape, dtype=torch.float64, requires_grad=True)
    with _max_pool_as_mean():
        out = _select(probe(leaf * 1.0), output_index)  # "* 1.0": in-place ReLUs must not hit the leaf
    i, j = _resolve_pixel(pixel, *out.shape[-2:])
    (grad,) = torch.autograd.grad(out[0, :, i, j].sum(), leaf)
    return grad[0].abs().sum(0) > 0


def effective_receptive_field(
    model: nn.Module,
    inputs: torch.Tensor | None = None,
    *,
    input_shape: Sequence[int] | None = None,
    pixel: tuple[int, int] | None = None,
    samples: int = 4,
    normalize: str | None = "sum",
    output_index: int = 0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Luo et al.'s effective receptive field: ``mean |d y[pixel] / d x|`` as an ``H x W`` heat map.

    Uses the model's actual weights, in eval mode (restored afterwards). ``inputs`` is a (C, H, W) or
    (N, C, H, W) batch of real images; without it ``samples`` standard-normal images of
    ``input_shape`` are drawn. ``y[pixel]`` is summed over output channels; ``normalize`` = ``"sum"``
    (the map sums to 1), ``"max"`` (peak 1) or ``None`` (raw gradients).
    """
    if normalize not in ("sum", "max", None):
        raise ValueError(f"normalize must be 'sum', 'max' or None, got {normalize!r}.")
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    dtype = param.dtype if param is not None else torch.float32
    if inputs is None:
        if input_shape is None:
            raise ValueError("Give either inputs (a batch of images) or input_shape.")
        shape = _as_batch_shape(input_shape)
        inputs = torch.randn((samples, *shape[1:]), generator=generator)
    if inputs.dim() == 3:
        inputs = inputs.unsqueeze(0)
    x = inputs.detach().to(device, dtype).requires_grad_(True)
    was_training = model.training
    model.eval()
    try:
        out = _select(model(x * 1.0), output_index)
        i, j = _resolve_pixel(pixel, *out.shape[-2:])
        (grad,) = torch.autograd.grad(out[:, :, i, j].sum(), x)
    finally:
        model.train(was_training)
    heat = grad.abs().sum(dim=(0, 1)).cpu()
    if normalize is not None:
        total = heat.sum() if normalize == "sum" else heat.max()
        if total <= 0:
            raise ValueError("The gradient is zero everywhere (dead ReLUs or zero weights?): no ERF to show.")
        heat = heat / total
    return heat


def conv_stack(
    kernel: int = 3,
    dilation: int | Sequence[int] = 1,
    layers: int | None = None,
    *,
    downsample: str = "none",
    every: int = 1,
    channels: int = 1,
    padding: str = "same",
) -> nn.Sequential:
    """A plain stack of ``kernel x kernel`` convs with ReLU, for receptive-field experiments.

    ``dilation``: one rate for all ``layers``, or one rate per layer (then ``layers`` may be omitted).
    ``downsample``: ``"none"``, ``"stride"`` (every ``every``-th conv has stride 2) or ``"maxpool"``
    (a 2x2 max-pool after every ``every``-th conv). ``padding``: ``"same"`` (``d (k - 1) // 2``, the
    size is kept for odd kernels) or ``"valid"`` (0). ``channels`` sets the width (in = out).
    """
    rates = [int(dilation)] * (layers if layers is not None else 1) if isinstance(dilation, int) else \
        [int(d) for d in dilation]
    if layers is not None and len(rates) != layers:
        raise ValueError(f"conv_stack: {len(rates)} dilation rates for {layers} layers; give one rate or "
                         "one per layer.")
    if kernel < 1 or not rates or min(rates) < 1:
        raise ValueError(f"conv_stack: kernel ({kernel}) and dilations ({rates}) must be >= 1, "
                         "with at least one layer.")
    if downsample not in ("none", "stride", "maxpool"):
        raise ValueError(f"conv_stack: downsample must be 'none', 'stride' or 'maxpool', got {downsample!r}.")
    if padding not in ("same", "valid"):
        raise ValueError(f"conv_stack: padding must be 'same' or 'valid', got {padding!r}.")
    if every < 1:
        raise ValueError(f"conv_stack: every must be >= 1, got {every}.")
    modules: list[nn.Module] = []
    for index, rate in enumerate(rates):
        down = downsample != "none" and (index + 1) % every == 0
        stride = 2 if down and downsample == "stride" else 1
        pad = rate * (kernel - 1) // 2 if padding == "same" else 0
        conv = nn.Conv2d(channels, channels, kernel, stride=stride, padding=pad, dilation=rate)
        modules += [conv, nn.ReLU()]
        if down and downsample == "maxpool":
            modules.append(nn.MaxPool2d(2))
    return nn.Sequential(*modules)


def erf_summary(heat: torch.Tensor, masses: Sequence[float] = (0.5, 0.9)) -> dict[str, float]:
    """Size of an ERF heat map: ``area50``/``area90`` (fewest pixels holding 50 % / 90 % of the mass),
    ``side90`` (sqrt of area90: the side of a square as large), and ``std`` (RMS distance in px from
    the heat-weighted centre, per axis: a Gaussian ERF of scale sigma gives ``std`` = sigma).
    """
    heat = heat.detach().double().cpu()
    if heat.dim() != 2 or (heat < 0).any() or heat.sum() <= 0:
        raise ValueError("erf_summary expects a non-negative, non-zero H x W map "
                         "(as effective_receptive_field returns).")
    p = heat / heat.sum()
    ordered = torch.sort(p.flatten(), descending=True).values.cumsum(0)
    summary = {f"area{round(100 * m)}": float(int(torch.searchsorted(ordered, float(m))) + 1)
               for m in masses}
    if "area90" in summary:
        summary["side90"] = summary["area90"] ** 0.5
    rows = torch.arange(p.shape[0], dtype=p.dtype)[:, None]
    cols = torch.arange(p.shape[1], dtype=p.dtype)[None, :]
    ci, cj = (p * rows).sum(), (p * cols).sum()
    summary["std"] = float(((p * ((rows - ci) ** 2 + (cols - cj) ** 2)).sum() / 2) ** 0.5)
    return summary
