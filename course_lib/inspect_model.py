"""Look inside a model: activations of named layers, a per-level shape table of a U-Net, a summary.

    acts = capture_activations(model, x, ["encoder.0", "decoder.0"])   # name -> CPU tensor
    print(format_level_table(level_table(model, 256)))                 # one row per U-Net level
    print(summary(model, (1, 1, 256, 256)))                            # torchinfo, course columns

Activations are taken with forward hooks (removed again, even on error), so they work for any
``nn.Module`` whose submodules have names (``model.named_modules()``), not only the course's U-Net.
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Sequence
from typing import Any, NamedTuple

import torch
import torch.nn as nn

__all__ = [
    "LevelRow", "capture_activations", "capture_inputs", "count_macs", "format_level_table", "level_table",
    "parameter_count", "plot_level_table", "summary",
]

Shape = tuple[int, ...]


def parameter_count(module: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (weights and biases; BatchNorm running statistics are buffers, not counted)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


@torch.no_grad()
def count_macs(model: nn.Module, input_shape: Sequence[int]) -> int:
    """Multiply-accumulates of one forward pass on an input of ``input_shape`` (e.g. ``(1, 3, 320, 320)``):
    those of the convolutions and matrix products, counted by ``torch.utils.flop_counter`` (FLOPs / 2).
    Normalisation, activations, pooling and resizing are not counted (they are cheap). The pass runs on a
    copy of the model on the ``meta`` device (shapes only, no arithmetic), so big models and inputs cost
    nothing; a model with an operation ``meta`` cannot run is counted on a real zero input instead."""
    from torch.utils.flop_counter import FlopCounterMode

    def counted(net: nn.Module, device: torch.device | str) -> int:
        with FlopCounterMode(display=False) as counter:
            net(torch.zeros(tuple(input_shape), device=device))
        return int(counter.get_total_flops()) // 2

    was_training = model.training
    model.eval()
    try:
        try:
            return counted(copy.deepcopy(model).to("meta"), "meta")
        except (NotImplementedError, RuntimeError):
            return counted(model, next(model.parameters()).device)
    finally:
        model.train(was_training)


def _resolve(model: nn.Module, layers: Sequence[str] | None) -> dict[str, nn.Module]:
    """Map layer names to submodules; default: ``model.feature_names()`` or the top-level children."""
    modules = dict(model.named_modules())
    if layers is None:
        names = model.feature_names() if callable(getattr(model, "feature_names", None)) else None
        layers = names or [name for name, _ in model.named_children()]
    if isinstance(layers, str):
        layers = [layers]
    resolved = {}
    for name in layers:
        if name not in modules or name == "":
            close = difflib.get_close_matches(str(name), [n for n in modules if n], n=5, cutoff=0.5)
            hint = f" Did you mean one of {close}?" if close else ""
            raise ValueError(f"The model has no submodule named {name!r}.{hint} "
                             "List the names with [n for n, _ in model.named_modules()].")
        resolved[name] = modules[name]
    return resolved


def _first_tensor(value: Any) -> torch.Tensor | None:
    """The tensor of a hook's output or input (the first one of a tuple/list, e.g. side outputs)."""
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, (list, tuple)) and value:
        return _first_tensor(value[0])
    return None


@torch.inference_mode()
def _capture(model: nn.Module, x: torch.Tensor, layers: Sequence[str] | None, inputs: bool
             ) -> dict[str, torch.Tensor]:
    modules = _resolve(model, layers)
    captured: dict[str, torch.Tensor] = {}

    def hook_for(name: str):
        def keep(value: Any) -> None:
            tensor = _first_tensor(value)
            if tensor is not None:
                captured[name] = tensor.detach().float().cpu().clone()

        if inputs:
            return lambda module, args: keep(args)
        return lambda module, args, output: keep(output)

    handles = [(m.register_forward_pre_hook if inputs else m.register_forward_hook)(hook_for(name))
               for name, m in modules.items()]
    was_training = model.training
    model.eval()
    try:
        device = next(model.parameters()).device
        model(x.to(device))
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    missing = [name for name in modules if name not in captured]
    if missing:
        raise ValueError(f"The layers {missing} did not run in this forward pass (or returned no tensor).")
    return {name: captured[name] for name in modules}  # in the order asked for


def capture_activations(model: nn.Module, x: torch.Tensor, layers: Sequence[str] | None = None
                        ) -> dict[str, torch.Tensor]:
    """Outputs of the named submodules for input ``x`` (N x C x H x W), as detached float CPU tensors.

    ``layers`` are names from ``model.named_modules()`` (``"encoder.2"``, ``"decoder.0.up"``); the
    default is ``model.feature_names()`` when the model has it (the course's U-Nets), else its
    top-level children. The model runs once in eval mode (its mode is restored) without gradients.
    A layer that runs several times keeps its last output.
    """
    return _capture(model, x, layers, inputs=False)


def capture_inputs(model: nn.Module, x: torch.Tensor, layers: Sequence[str]) -> dict[str, torch.Tensor]:
    """Like :func:`capture_activations`, but the first input each named submodule receives."""
    return _capture(model, x, layers, inputs=True)


class LevelRow(NamedTuple):
    """One level of a U-Net: what the encoder makes, what the decoder receives and makes there.

    Shapes are ``(C, H, W)`` of one sample; ``up``, ``concat`` and ``decoder`` are ``None`` at the
    bottleneck (the deepest level has no decoder step of its own).
    """

    level: int
    name: str
    encoder: Shape
    up: Shape | None
    concat: Shape | None
    decoder: Shape | None
    parameters: int


def _shape(t: torch.Tensor) -> Shape:
    return tuple(int(s) for s in t.shape[1:])


def level_table(model: nn.Module, input_size: int | tuple[int, int], in_channels: int | None = None
                ) -> list[LevelRow]:
    """Measured per-level shapes of a U-Net (``encoder``/``bottleneck``/``decoder`` submodules).

    Runs one zero image of ``input_size`` (an int or ``(H, W)``) through the model with hooks. For a
    padded U-Net level ``l`` is ``input / 2**l`` pixels with ``widths[l]`` channels; the decoder's
    block at level ``l`` receives ``2 * widths[l]`` channels (skip + upsampled), or ``widths[l]``
    without skips. ``parameters`` counts the level's encoder block plus its decoder step.
    """
    for part in ("encoder", "bottleneck", "decoder"):
        if not hasattr(model, part):
            raise TypeError(f"level_table needs a U-Net with encoder/bottleneck/decoder submodules; "
                            f"{type(model).__name__} has no {part!r}.")
    height, width = (input_size, input_size) if isinstance(input_size, int) else input_size
    if in_channels is None:
        in_channels = getattr(model, "in_channels", None)
        if in_channels is None:
            first = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
            if first is None:
                raise TypeError("level_table: pass in_channels (the model has no Conv2d to read it from).")
            in_channels = first.in_channels
    depth = len(model.decoder)
    x = torch.zeros(1, in_channels, height, width)
    encoders = [f"encoder.{i}" for i in range(depth)] + ["bottleneck"]
    decoders = [f"decoder.{i}" for i in range(depth)]
    ups = [f"decoder.{i}.up" for i in range(depth)]
    outputs = capture_activations(model, x, encoders + decoders + ups)
    concats = capture_inputs(model, x, [f"decoder.{i}.block" for i in range(depth)])
    rows = []
    for level, name in enumerate(encoders):
        enc_module = model.bottleneck if level == depth else model.encoder[level]
        params = parameter_count(enc_module)
        up = concat = dec = None
        if level < depth:
            params += parameter_count(model.decoder[level])
            up = _shape(outputs[f"decoder.{level}.up"])
            concat = _shape(concats[f"decoder.{level}.block"])
            dec = _shape(outputs[f"decoder.{level}"])
        rows.append(LevelRow(level, name, _shape(outputs[name]), up, concat, dec, params))
    return rows


def _fmt(shape: Shape | None) -> str:
    return "-" if shape is None else " x ".join(str(s) for s in shape)


def format_level_table(rows: Sequence[LevelRow]) -> str:
    """A plain-text table of :func:`level_table` rows (one line per level, deepest last)."""
    head = ("level", "encoder out", "up-conv out", "concat (decoder in)", "decoder out", "parameters")
    body = [(f"{r.level} ({r.name})", _fmt(r.encoder), _fmt(r.up), _fmt(r.concat), _fmt(r.decoder),
             f"{r.parameters:,}") for r in rows]
    widths = [max(len(line[i]) for line in [head, *body]) for i in range(len(head))]
    lines = ["  ".join(cell.rjust(w) if i == len(head) - 1 else cell.ljust(w)
                       for i, (cell, w) in enumerate(zip(line, widths, strict=True))).rstrip()
             for line in [head, *body]]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def plot_level_table(rows: Sequence[LevelRow], title: str | None = None):
    """The paper's "U" drawn from measured :func:`level_table` rows; returns the matplotlib Figure.

    One box per feature map (encoder on the left, decoder on the right, deeper levels lower; box
    height grows with the side length, width with the channels), labelled ``C x H x W``; red arrows
    are 2x2 max-pools, green ones 2x2 up-convolutions, grey ones the skip copies (drawn only where the
    decoder really receives ``2 C`` channels, so an encoder-decoder without skips shows none).
    """
    import math

    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch, Rectangle

    depth = len(rows) - 1
    side0, ch0 = rows[0].encoder[1], rows[0].encoder[0]
    fig, ax = plt.subplots(figsize=(11, 1.2 + 1.15 * (depth + 1)))

    def box(x: float, level: int, shape: Shape, colour: str) -> tuple[float, float, float, float]:
        h = 0.25 + 0.55 * math.sqrt(shape[1] / side0)
        w = 0.12 + 0.09 * math.log2(max(shape[0] / ch0, 1) + 1)
        y = -1.15 * level - h / 2
        ax.add_patch(Rectangle((x - w / 2, y), w, h, facecolor=colour, edgecolor="#333333", lw=1.2))
        ax.text(x, y - 0.06, _fmt(shape), ha="center", va="top", fontsize=9)
        return x, y, w, h

    def arrow(a: tuple[float, float], b: tuple[float, float], colour: str, style: str = "-|>") -> None:
        ax.add_patch(FancyArrowPatch(a, b, arrowstyle=style, mutation_scale=14, color=colour, lw=1.8))

    span = 1.0 + 0.55 * depth
    enc, dec = {}, {}
    for r in rows:
        enc[r.level] = box(-span + 0.55 * r.level, r.level, r.encoder, "#9ecae1")
        if r.decoder is not None:
            dec[r.level] = box(span - 0.55 * r.level, r.level, r.decoder, "#fdd0a2")
    for level in range(depth):
        (x0, y0, _, _), (x1, y1, _, h1) = enc[level], enc[level + 1]
        arrow((x0, y0), (x1, y1 + h1), "#d62728")
        (xd, yd, _, hd), (xb, yb, _, _) = dec[level], (dec.get(level + 1) or enc[depth])
        arrow((xb, yb + (enc[depth][3] if level + 1 == depth else dec[level + 1][3])), (xd, yd), "#2ca02c")
        row = rows[level]
        if row.concat is not None and row.up is not None and row.concat[0] == 2 * row.up[0]:
            ex, ey, ew, eh = enc[level]
            arrow((ex + ew / 2, ey + eh / 2), (xd - dec[level][2] / 2, ey + eh / 2), "#7f7f7f")
            ax.text((ex + xd) / 2, ey + eh / 2 + 0.05, f"copy, concat -> {row.concat[0]} ch", ha="center",
                    va="bottom", fontsize=8.5, color="#555555")
    xd, yd, wd, hd = dec[0]
    arrow((xd + wd / 2, yd + hd / 2), (xd + wd / 2 + 0.35, yd + hd / 2), "#9467bd")
    ax.text(xd + wd / 2 + 0.4, yd + hd / 2, "1x1 conv\n-> logits", va="center", fontsize=9, color="#9467bd")
    handles = [FancyArrowPatch((0, 0), (1, 0), color=c, label=t) for c, t in
               (("#d62728", "max-pool 2x2"), ("#2ca02c", "up-conv 2x2"), ("#7f7f7f", "skip copy"))]
    ax.legend(handles=handles, loc="lower center", ncol=3, frameon=False, bbox_to_anchor=(0.5, -0.02))
    ax.set_xlim(-span - 0.5, span + 1.2)
    ax.set_ylim(-1.15 * depth - 0.9, 0.7)
    ax.set_axis_off()
    ax.set_title(title or "encoder (blue) and decoder (orange) feature maps, C x H x W")
    return fig


def summary(model: nn.Module, input_size: Sequence[int], depth: int = 2, **kwargs: Any):
    """A torchinfo summary (input/output shapes and parameters per layer), on the model's device.

    ``input_size`` is the full batch shape, e.g. ``(1, 1, 256, 256)``. Extra keyword arguments go to
    ``torchinfo.summary``; the result prints as a table and has ``total_params``.
    """
    try:
        from torchinfo import summary as torchinfo_summary
    except ImportError as err:  # pragma: no cover - torchinfo is a dependency
        raise ImportError("summary needs torchinfo: pip install torchinfo") from err
    options = {"col_names": ("input_size", "output_size", "num_params"), "depth": depth, "verbose": 0,
               "row_settings": ("var_names",)}
    options.update(kwargs)
    return torchinfo_summary(model, input_size=tuple(input_size), **options)
