"""Fundus-image preprocessing: what the network sees of a retinal photograph (chapter 06 and the
DRIVE recipes). Each function maps ``(rgb 3 x H x W in [0, 1], fov 1 x H x W)`` to the network's input.

- :func:`standardise_rgb` (``"rgb_norm"``): each colour channel to mean 0, std 1 inside the FOV.
- :func:`flatten_illumination` (``"rgb_flat"``): divided by its smooth background first.
- :func:`vessel_contrast` (``"green_lcn"``): the green channel with local contrast normalisation.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from scipy import ndimage

__all__ = ["DRIVE_SIZE", "PREPROCESSING", "flatten_illumination", "preprocessing_channels", "standardise_rgb",
           "vessel_contrast"]

DRIVE_SIZE = (584, 565)


def _fov_gaussian_mean(x: np.ndarray, inside: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian mean of ``x`` (H x W, or C x H x W: per channel) over the FOV pixels only (normalised
    convolution ``G*(x fov) / G*fov``), so the dark border outside the FOV does not bleed in."""
    weight = np.maximum(ndimage.gaussian_filter(inside, sigma), 1e-6)
    per_axis = (0.0,) * (x.ndim - 2) + (sigma, sigma)
    return ndimage.gaussian_filter(x * inside, per_axis) / weight


def vessel_contrast(rgb: torch.Tensor, fov: torch.Tensor, sigma: float | None = None,
                    clip: float = 3.0, floor: float = 0.0) -> torch.Tensor:
    """Green channel with local contrast normalisation inside the FOV: a CLAHE-like 1-channel image.

    ``out = (g - mu_s(g)) / sqrt(mu_s((g - mu_s(g))^2) + eps)``, where ``mu_s`` is a Gaussian mean of
    scale ``sigma`` computed *inside the FOV only* (normalised convolution ``G*(g fov) / G*fov``), so the
    dark border does not bleed in. Vessels are darkest in the green channel; dividing by the local
    spread evens out illumination and contrast across the fundus. Values are clipped to ``[-clip, clip]``,
    scaled to [-1, 1] and set to 0 outside the FOV. ``rgb`` is 3 x H x W in [0, 1], ``fov`` 1 x H x W;
    ``sigma`` defaults to 8 px at DRIVE's width (565 px) and scales with the image.
    """
    if rgb.dim() != 3 or rgb.shape[0] != 3:
        raise ValueError(f"vessel_contrast needs one 3 x H x W RGB image, got shape {tuple(rgb.shape)}.")
    if fov.shape[-2:] != rgb.shape[-2:]:
        raise ValueError(f"fov {tuple(fov.shape)} and image {tuple(rgb.shape)} must have the same size.")
    sigma = 8.0 * rgb.shape[-1] / DRIVE_SIZE[1] if sigma is None else float(sigma)
    g = rgb[1].double().numpy()
    inside = (fov.reshape(g.shape) > 0.5).double().numpy()

    centred = g - _fov_gaussian_mean(g, inside, sigma)
    global_var = float((centred[inside > 0] ** 2).mean()) if inside.any() else 0.0
    spread = np.sqrt(_fov_gaussian_mean(centred**2, inside, sigma) + floor**2 * global_var + 1e-4)
    out = np.clip(centred / spread, -clip, clip) / clip * inside
    return torch.from_numpy(out).float()[None]


def standardise_rgb(rgb: torch.Tensor, fov: torch.Tensor) -> torch.Tensor:
    """Each colour channel shifted and scaled to mean 0, std 1 over the FOV pixels; 0 outside the FOV.

    Evens out the global brightness and colour of each fundus photograph (camera exposure, pigmentation)
    while keeping everything else, including the colour that tells vessels from lesions."""
    inside = fov.reshape(1, *rgb.shape[-2:]) > 0.5
    if not inside.any():
        raise ValueError("standardise_rgb needs a non-empty field of view.")
    pixels = rgb[:, inside[0]]
    mean, std = pixels.mean(1), pixels.std(1).clamp_min(1e-3)
    return (rgb - mean[:, None, None]) / std[:, None, None] * inside


def flatten_illumination(rgb: torch.Tensor, fov: torch.Tensor, sigma: float | None = None) -> torch.Tensor:
    """Each colour channel divided by its smooth background, then standardised inside the FOV.

    The background is a Gaussian mean of scale ``sigma`` over the FOV pixels only (default 25 px at
    DRIVE's width of 565 px, scaled with the image): far wider than a vessel, so vessels stay dark
    against it. Dividing by it removes the slow brightness changes across a fundus photograph (the
    bright optic disc and any pale atrophic patch around it, the darker rim) that
    :func:`standardise_rgb` alone keeps. ``rgb`` is 3 x H x W in [0, 1], ``fov`` 1 x H x W.
    """
    if rgb.dim() != 3 or rgb.shape[0] != 3:
        raise ValueError(f"flatten_illumination needs one 3 x H x W RGB image, got shape {tuple(rgb.shape)}.")
    if fov.shape[-2:] != rgb.shape[-2:]:
        raise ValueError(f"fov {tuple(fov.shape)} and image {tuple(rgb.shape)} must have the same size.")
    sigma = 25.0 * rgb.shape[-1] / DRIVE_SIZE[1] if sigma is None else float(sigma)
    inside = (fov.reshape(rgb.shape[-2:]) > 0.5).double().numpy()
    channels = rgb.double().numpy()
    flat = channels / np.maximum(_fov_gaussian_mean(channels, inside, sigma), 1e-2)
    return standardise_rgb(torch.from_numpy(flat).float(), fov)


# name -> (input channels, function of (rgb 3 x H x W in [0, 1], fov 1 x H x W) giving the network input)
PREPROCESSING: dict[str, tuple[int, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]]] = {
    "rgb_norm": (3, standardise_rgb),
    "rgb_flat": (3, flatten_illumination),
    "green_lcn": (1, vessel_contrast),
    "rgb": (3, lambda rgb, fov: rgb),
}


def preprocessing_channels(preprocessing: str) -> int:
    """The network's input channels for a :data:`PREPROCESSING` name; a clear error for unknown names."""
    if preprocessing not in PREPROCESSING:
        raise ValueError(f"preprocessing must be one of {', '.join(map(repr, PREPROCESSING))}, "
                         f"got {preprocessing!r}.")
    return PREPROCESSING[preprocessing][0]
