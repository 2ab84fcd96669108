"""Chapter 06's training step (DACRSE-UNet as the DRIVE recipe trains it): A/B of two speed choices.

    python benchmarks/bench_drive_step.py                 # quick recipe, 2 threads, 2 alternating rounds
    python benchmarks/bench_drive_step.py --mode full --device cuda

Compares, in one process so that both sides see the same machine: the memory format (contiguous or
channels-last, which ``fit_vessel_model`` uses) and DropBlock's seed sampler (one random number per
position, ``torch.rand(shape) < gamma``, or the geometric gaps of ``bernoulli_mask`` that the library
uses). Prints the median step time (forward, BCE, backward, Adam) over ``--steps`` steps after 3
warm-up steps, and images/s.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

import course_lib as cl
import course_lib.blocks.dropblock as dropblock
from course_lib.protocols import drive as protocol


def _uniform_seeds(shape, p, *, device=None, generator=None) -> torch.Tensor:
    return torch.rand(shape, device=device, generator=generator) < min(p, 1.0)


def step_seconds(recipe: cl.recipes.DriveRecipe, device: torch.device, channels_last: bool,
                 steps: int) -> float:
    torch.manual_seed(0)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = protocol.make_vessel_model(recipe).to(device, memory_format=fmt)
    size = recipe.patch_size if recipe.protocol == "patches" else protocol.PAPER_PAD
    x = torch.randn(recipe.batch_size, recipe.in_channels, size, size, device=device)
    x = x.contiguous(memory_format=fmt)
    y = (torch.rand(recipe.batch_size, 1, size, size, device=device) < 0.3).float()
    optimizer = torch.optim.Adam(model.parameters(), recipe.lr)
    times = []
    for _ in range(steps + 3):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        loss = F.binary_cross_entropy_with_logits(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times[3:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", default="quick", choices=cl.config.MODES)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    recipe = cl.recipes.drive_recipe(args.mode)
    device = torch.device(args.device)
    print(f"dacrse_unet, {args.mode} recipe: batch {recipe.batch_size}, widths {recipe.widths}, "
          f"{args.device}, {args.threads} threads, median of {args.steps} steps")
    library_sampler = dropblock.bernoulli_mask
    for round_ in range(args.rounds):
        samplers = (("torch.rand < gamma", _uniform_seeds), ("geometric gaps", library_sampler))
        for sampler_name, sampler in samplers:
            dropblock.bernoulli_mask = sampler
            for channels_last in (False, True):
                seconds = step_seconds(recipe, device, channels_last, args.steps)
                print(f"round {round_}  seeds: {sampler_name:<18}  "
                      f"{'channels_last' if channels_last else 'contiguous':<13}  "
                      f"{seconds * 1e3:7.1f} ms/step  {recipe.batch_size / seconds:6.1f} img/s", flush=True)
    dropblock.bernoulli_mask = library_sampler


if __name__ == "__main__":
    main()
