"""Load the official U^2-Net checkpoints (``u2net.pth``, ``u2netp.pth`` of github.com/xuebinqin/U-2-Net)
into the course's :class:`~course_lib.models.u2net.U2Net`.

The two models compute the same function; only the names differ. The official code writes each RSU
depth as its own class, so its keys read ``stage1.rebnconvin.conv_s1.weight``, ``stage1.rebnconv7...``,
``stage1.rebnconv6d...``, ``side1``, ``outconv``; the course builds every stage from one generic RSU-L:

=====================================  ==========================================
course                                  official
=====================================  ==========================================
``stages.En_k`` / ``stages.De_k``       ``stage{k}`` / ``stage{k}d``
``.conv_in``                            ``.rebnconvin``
``.encoder.{i}`` (i = 0..L-1)           ``.rebnconv{i+1}``
``.decoder.{j}`` (j = 0..L-2)           ``.rebnconv{L-1-j}d``
``...0.*`` / ``...1.*`` (conv, BN)      ``.conv_s1.*`` / ``.bn_s1.*``
``sides.{m}`` (m = 0..5)                ``side{m+1}``
``fuse``                                ``outconv``
=====================================  ==========================================

The official model applies ``sigmoid`` to its seven outputs; the course's returns logits, so
``torch.sigmoid`` of each course output equals the official output.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from course_lib.config import data_root
from course_lib.models.u2net import U2NET_CONFIGS, U2Net

__all__ = [
    "OFFICIAL_URLS", "find_checkpoint", "from_official", "official_key", "official_predict", "to_official",
]

#: Where the official weights are published (the repository's README links them; Google Drive).
OFFICIAL_URLS = {
    "u2net": "https://github.com/xuebinqin/U-2-Net#usage-for-salient-object-detection (u2net.pth, 176.3 MB)",
    "u2netp": "https://github.com/xuebinqin/U-2-Net#usage-for-salient-object-detection (u2netp.pth, 4.7 MB)",
}

_LAYER = {"0": "conv_s1", "1": "bn_s1"}


def official_key(key: str, model: U2Net) -> str:
    """The official checkpoint's name for the course model's state-dict ``key``."""
    if m := re.fullmatch(r"sides\.(\d+)\.(\w+)", key):
        return f"side{int(m.group(1)) + 1}.{m.group(2)}"
    if m := re.fullmatch(r"fuse\.(\w+)", key):
        return f"outconv.{m.group(1)}"
    m = re.fullmatch(r"stages\.(En|De)_(\d+)\.(conv_in|encoder\.\d+|decoder\.\d+)\.([01])\.(\w+)", key)
    if m is None:
        raise KeyError(f"{key!r} is not a U2Net state-dict key.")
    part, k, where, layer, tensor = m.groups()
    stage = f"stage{k}" + ("d" if part == "De" else "")
    if where == "conv_in":
        conv = "rebnconvin"
    else:
        kind, index = where.split(".")
        height = model.stages[f"{part}_{k}"].height
        conv = f"rebnconv{int(index) + 1}" if kind == "encoder" else f"rebnconv{height - 1 - int(index)}d"
    return f"{stage}.{conv}.{_LAYER[layer]}.{tensor}"


def to_official(model: U2Net) -> dict[str, torch.Tensor]:
    """The course model's state dict under the official key names (what ``torch.save`` of the official
    model would hold)."""
    return {official_key(k, model): v for k, v in model.state_dict().items()}


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
#: Largest magnitude a trained weight or bias plausibly has; a damaged file (flipped bytes) breaks it.
PLAUSIBLE_WEIGHT = 1e3
PLAUSIBLE_RUNNING_STAT = 1e6


def _read(state_dict_or_path: Mapping[str, torch.Tensor] | str | os.PathLike) -> dict[str, torch.Tensor]:
    if isinstance(state_dict_or_path, torch.nn.Module):
        raise TypeError("from_official takes a checkpoint (a path or a state dict), not a model. For a model "
                        "you have, pass model.state_dict().")
    if isinstance(state_dict_or_path, Mapping):
        state = dict(state_dict_or_path)
    else:
        path = Path(state_dict_or_path).expanduser()
        if not path.is_file():
            raise FileNotFoundError(
                f"No checkpoint at {path}. Download u2net.pth or u2netp.pth from the official repository "
                f"({OFFICIAL_URLS['u2net'].split(' ')[0]}) and pass its path."
            )
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # truncated download, HTML page saved as .pth, a pickled model, ...
            text = _ANSI.sub("", str(err))
            if "Unsupported global" in text:
                raise ValueError(
                    f"{path.name} holds a whole pickled model (saved with torch.save(model)), not a state "
                    "dict; the course does not unpickle code. If you trust its source, load it yourself "
                    "(torch.load(path, weights_only=False)) and pass its .state_dict() here.") from None
            lines = [line for line in text.strip().splitlines() if line.strip()]
            first = lines[0][:200] if lines else "no message"
            raise ValueError(f"{path.name} is not a readable PyTorch checkpoint ({type(err).__name__}: "
                             f"{first}). Download it again.") from None
    if isinstance(state, Mapping):
        for wrapper in ("state_dict", "model"):  # a training script's dict, or a course engine last.pt
            if wrapper in state and isinstance(state[wrapper], Mapping):
                state = dict(state[wrapper])
                break
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError("Expected a state dict (key -> tensor) of the official U^2-Net, got "
                         f"{type(state).__name__}.")
    # checkpoints saved from nn.DataParallel prefix every key with "module." (twice when wrapped twice)
    return {re.sub(r"^(module\.)+", "", k): v for k, v in state.items()}


def _check_values(state: Mapping[str, torch.Tensor]) -> None:
    """Refuse non-finite or implausibly large values, naming the first key that has them."""
    for key, tensor in state.items():
        if not tensor.is_floating_point():
            continue
        if not bool(torch.isfinite(tensor).all()):
            raise ValueError(f"The checkpoint's {key!r} holds NaN or infinite values: the file is damaged "
                             "(or was saved from a diverged run). Download it again.")
        limit = PLAUSIBLE_RUNNING_STAT if "running" in key else PLAUSIBLE_WEIGHT
        biggest = float(tensor.abs().max()) if tensor.numel() else 0.0
        if biggest > limit or ("running_var" in key and bool((tensor < 0).any())):
            raise ValueError(f"The checkpoint's {key!r} holds implausible values (largest magnitude "
                             f"{biggest:.3g}; trained weights stay far below {limit:g}): the file is "
                             "damaged, e.g. a corrupted download. Download it again and compare its size.")


def _listing(keys: set[str], limit: int = 6) -> str:
    names = sorted(keys)
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def from_official(state_dict_or_path: Mapping[str, torch.Tensor] | str | os.PathLike, config: str = "u2net",
                  in_channels: int = 3, out_channels: int = 1) -> U2Net:
    """A course :class:`U2Net` (``config`` "u2net" or "u2netp") holding the official checkpoint's weights,
    in eval mode. ``sigmoid`` of each of its seven outputs equals the official model's output.

    A checkpoint with missing or unexpected keys, or tensors of the wrong shape (e.g. ``u2netp.pth``
    loaded with ``config="u2net"``), raises ``ValueError`` naming them.
    """
    if config not in U2NET_CONFIGS:
        raise ValueError(f"config must be one of {sorted(U2NET_CONFIGS)}, got {config!r}.")
    official = _read(state_dict_or_path)
    model = U2Net(config, in_channels=in_channels, out_channels=out_channels)
    if set(official) == set(model.state_dict()):  # the course's own key names: no renaming needed
        _check_values(official)
        _check_shapes({k: k for k in official}, official, model, config)
        model.load_state_dict(official)
        return model.eval()
    names = {official_key(k, model): k for k in model.state_dict()}
    missing, unexpected = set(names) - set(official), set(official) - set(names)
    if missing or unexpected:
        problems = []
        if missing:
            problems.append(f"missing {len(missing)} key(s): {_listing(missing)}")
        if unexpected:
            problems.append(f"unexpected {len(unexpected)} key(s): {_listing(unexpected)}")
        raise ValueError(f"This is not an official {config} checkpoint: " + "; ".join(problems) +
                         ". A truncated download loses keys; u2net.pth and u2netp.pth need config='u2net' "
                         "and config='u2netp'.")
    _check_values(official)
    _check_shapes(names, official, model, config)
    model.load_state_dict({ours: official[name] for name, ours in names.items()})
    return model.eval()


def _check_shapes(names: Mapping[str, str], official: Mapping[str, torch.Tensor], model: U2Net,
                  config: str) -> None:
    """``names``: checkpoint key -> model key. Raise a ValueError that says what the mismatch means."""
    target = model.state_dict()
    wrong = {name: ours for name, ours in names.items() if official[name].shape != target[ours].shape}
    if not wrong:
        return
    first_in = next((n for n, o in names.items() if o == "stages.En_1.conv_in.0.weight"), None)
    if first_in in wrong and official[first_in].shape[0] == target["stages.En_1.conv_in.0.weight"].shape[0]:
        found = official[first_in].shape[1]
        raise ValueError(f"The checkpoint takes {found}-channel images but the model was built with "
                         f"in_channels={model.in_channels}: pass in_channels={found}.")
    heads = {n for n, o in names.items() if o.startswith(("sides.", "fuse."))}
    if set(wrong) <= heads:
        found = official[next(iter(wrong))].shape[0]
        raise ValueError(f"The checkpoint predicts {found} channel(s) per output but the model was built "
                         f"with a different out_channels: pass out_channels={found}.")
    shown = [f"{n} {tuple(official[n].shape)} (expected {tuple(target[o].shape)})" for n, o in wrong.items()]
    other = "u2netp" if config == "u2net" else "u2net"
    raise ValueError(f"{len(wrong)} tensor(s) have the wrong shape for config={config!r}, e.g. "
                     f"{'; '.join(shown[:3])}. Is this the {other} checkpoint? Try config={other!r}.")


def find_checkpoint(config: str = "u2net") -> Path | None:
    """``<data folder>/u2net/<config>.pth`` if it is there (where the chapter looks), else None."""
    path = data_root() / "u2net" / f"{config}.pth"
    return path if path.is_file() else None


@torch.inference_mode()
def official_predict(model: U2Net, image: np.ndarray | torch.Tensor, size: int = 320) -> torch.Tensor:
    """The official inference recipe on one RGB image (H x W x 3 uint8, or 3 x H x W float in [0, 1]):
    resize to ``size`` x ``size``, divide by the image's maximum, normalise with the ImageNet mean and
    std, take ``sigmoid(d0)``, stretch it to [0, 1] (min-max, as the official test script does) and resize
    back. Returns an H x W saliency map in [0, 1]."""
    x = torch.as_tensor(np.asarray(image) if not isinstance(image, torch.Tensor) else image).float()
    if x.dim() != 3 or 3 not in (x.shape[0], x.shape[-1]):
        raise ValueError("official_predict expects one RGB image (H x W x 3 or 3 x H x W), got "
                         f"{tuple(x.shape)}.")
    if x.shape[-1] == 3 and x.shape[0] != 3:
        x = x.permute(2, 0, 1)
    height, width = x.shape[-2:]
    x = F.interpolate(x[None], size=(size, size), mode="bilinear", align_corners=False)
    x = x / x.max().clamp_min(1e-8)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        d0 = torch.sigmoid(model(((x - mean) / std).to(device))[0].float()).cpu()
    finally:
        model.train(was_training)
    d0 = (d0 - d0.min()) / (d0.max() - d0.min()).clamp_min(1e-8)
    return F.interpolate(d0, size=(int(height), int(width)), mode="bilinear", align_corners=False)[0, 0]
