"""Chapter 08 (UNet++) exercise checkers: the deep-supervision loss, the parameters a pruned network uses,
and the "anytime" forward pass that emits L1, L2, ... as soon as each pruned network's nodes are computed,
each against the library's model."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from course_lib.exercises import call_answer as _call
from course_lib.exercises import exercise
from course_lib.models import create_model


def _model(seed: int, widths: tuple[int, ...] = (4, 8, 16, 32)):
    torch.manual_seed(seed)
    return create_model("unetpp", in_channels=1, out_channels=1, widths=widths, deep_supervision=True).eval()


@exercise("08.ds_loss")
def check_ds_loss(fn: Callable[..., torch.Tensor]) -> None:
    """``fn(outputs, mask) -> loss``: BCE-with-logits averaged over ALL deep-supervision heads."""
    g = torch.Generator().manual_seed(8)
    for heads in (4, 3):
        outputs = [torch.randn(2, 1, 8, 8, generator=g) * 3 for _ in range(heads)]
        mask = (torch.rand(2, 1, 8, 8, generator=g) > 0.6).float()
        got = _call(fn, outputs, mask)
        assert isinstance(got, torch.Tensor) and got.dim() == 0, "return one scalar tensor."
        terms = torch.stack([F.binary_cross_entropy_with_logits(o, mask) for o in outputs])
        if torch.allclose(got, terms[0]):
            raise AssertionError("your loss uses the final head only (as the official PyTorch port does): "
                                 "the other heads never learn, so the pruned networks are untrained.")
        if torch.allclose(got, terms.sum()):
            raise AssertionError("you summed the heads; average them (the same scale as one head's loss, "
                                 "so the learning rate keeps its meaning).")
        probs = [torch.sigmoid(o) for o in outputs]
        if torch.allclose(got, F.binary_cross_entropy_with_logits(torch.stack(outputs).mean(0), mask)) or \
                torch.allclose(got, F.binary_cross_entropy(torch.stack(probs).mean(0), mask)):
            raise AssertionError("you averaged the outputs, then took one loss; take each head's loss, "
                                 "then average the losses (each head must fit the mask on its own).")
        assert torch.allclose(got, terms.mean(), atol=1e-6), (
            "the values differ: mean over heads of F.binary_cross_entropy_with_logits(output, mask).")


@exercise("08.pruned_parameters")
def check_pruned_parameters(fn: Callable[..., int]) -> None:
    """``fn(model, level) -> int``: the parameters of the nodes and the head UNet++ L_level runs."""
    for widths in ((4, 8, 16, 32), (32, 64, 128, 256, 512)):
        model = _model(0, widths)
        for level in range(1, model.depth + 1):
            got = int(_call(fn, model, level))
            expected = model.parameters_used(level)
            nodes_only = expected - sum(p.numel() for p in model.heads[f"out_{level}"].parameters())
            if got == nodes_only:
                raise AssertionError(f"L{level}: add the 1x1 head on X^{{0,{level}}} ({expected - got} "
                                     "parameters).")
            if got == sum(p.numel() for p in model.parameters()):
                raise AssertionError("you counted the whole model; only nodes with i + j <= L run.")
            assert got == expected, (f"L{level} of widths {widths}: expected {expected:,}, got {got:,}. The "
                                     "nodes X^{i,j} with i + j <= L (model.nodes['x_i_j']) plus "
                                     "model.heads[f'out_{L}'].")



_ANYTIME_HOW = ("for L = 1..D: compute the new anti-diagonal i + j = L from the encoder node upward "
                "(X[L, 0] = model.nodes[f'x_{L}_0'](model.pool(X[L - 1, 0])), then j = 1..L with i = L - j: "
                "X[i, j] = model.nodes[f'x_{i}_{j}'](X[i + 1, j - 1], "
                "torch.cat([X[i, k] for k in range(j)], 1))), then append model.heads[f'out_{L}'](X[0, L])")


def _recorder(events: list[tuple[str, int, int]], kind: str, i: int, j: int) -> Callable[..., None]:
    """A forward hook that appends ``(kind, i, j)`` to ``events`` when its module runs."""

    def hook(module: torch.nn.Module, inputs: object, output: object) -> None:
        events.append((kind, i, j))

    return hook


def _same(a: object, b: torch.Tensor) -> bool:
    return isinstance(a, torch.Tensor) and a.shape == b.shape and torch.allclose(a, b, atol=1e-5)


def _run_anytime(fn: Callable[..., list], model: torch.nn.Module, x: torch.Tensor) -> list:
    """Call the answer; turn the two typical crashes into hints."""
    try:
        with torch.no_grad():
            return _call(fn, model, x)
    except AssertionError as err:
        detail = str(err).split(": ", 1)[-1]
        if "raised KeyError" in str(err):
            raise AssertionError(
                f"a node was used before it was computed ({detail}). X^{{i,j}} needs X^{{i+1,j-1}}, which "
                "lies on the SAME anti-diagonal i + j = L: walk each diagonal from the new encoder node "
                "X^{L,0} upward (j = 0, 1, ..., L).") from None
        if "channels" in str(err):
            raise AssertionError(
                "a node got the wrong number of channels: X^{i,j} takes ALL the nodes to its left on level "
                "i, torch.cat([X[i, k] for k in range(j)], dim=1) (j skips, the dense connections), and the "
                f"coarser X^{{i+1,j-1}}. ({detail})") from None
        raise


@exercise("08.anytime_forward")
def check_anytime_forward(fn: Callable[..., list]) -> None:
    """``fn(model, x) -> [out_1, ..., out_D]``: the outputs of UNet++ L1..LD (logits, L1 first) in ONE pass
    that computes every node once and emits head ``out_L`` as soon as the nodes with ``i + j <= L`` exist,
    before any node of a deeper level runs. Checked with hooks on ``model.nodes`` and ``model.heads``."""
    for seed, size in ((0, 16), (1, 32)):
        model = _model(seed, (4, 8, 16, 32, 64))  # depth 4, as in the chapter: L1..L4
        depth = model.depth
        x = torch.randn(2, 1, size, size, generator=torch.Generator().manual_seed(seed))
        events: list[tuple[str, int, int]] = []
        hooks = []
        for key, node in model.nodes.items():
            _, i, j = key.split("_")
            hooks.append(node.register_forward_hook(_recorder(events, "node", int(i), int(j))))
        for key, head in model.heads.items():
            hooks.append(head.register_forward_hook(_recorder(events, "head", 0, int(key.split("_")[1]))))
        try:
            out = _run_anytime(fn, model, x)
        finally:
            for hook in hooks:
                hook.remove()
        assert isinstance(out, list | tuple), (
            f"return a list of {depth} tensors (L1 first), got {type(out).__name__}.")
        assert len(out) == depth, (f"a UNet++ of depth {depth} has {depth} pruned networks L1..L{depth}: "
                                   f"return {depth} outputs, got {len(out)}.")
        assert all(isinstance(o, torch.Tensor) for o in out), "every element of the list is a logit tensor."
        with torch.no_grad():
            expected = [model(x, prune_level=level) for level in range(1, depth + 1)]
        if not all(_same(o, e) for o, e in zip(out, expected, strict=True)):
            if all(_same(o, e) for o, e in zip(out, expected[::-1], strict=True)):
                raise AssertionError("the outputs are in the deep-supervision order (final first); return "
                                     f"them as they are produced: L1 first, L{depth} last.")
            wrong = next(level for level in range(1, depth + 1)
                         if not _same(out[level - 1], expected[level - 1]))
            raise AssertionError(f"output L{wrong} differs from model(x, prune_level={wrong}): head "
                                 f"model.heads['out_{wrong}'] on X^{{0,{wrong}}}. The pass: {_ANYTIME_HOW}.")
        nodes = [(i, j) for kind, i, j in events if kind == "node"]
        n_nodes = (depth + 1) * (depth + 2) // 2
        if len(nodes) > n_nodes:
            repeated = sorted({n for n in nodes if nodes.count(n) > 1})
            raise AssertionError(
                f"{len(nodes)} node evaluations for {n_nodes} nodes: X^{{{repeated[0][0]},{repeated[0][1]}}} "
                f"and {len(repeated) - 1} more ran more than once (model(x, prune_level=L) for each L "
                "recomputes every smaller network). Keep X between the levels: level L only adds its "
                "anti-diagonal.")
        assert len(nodes) == n_nodes, (
            f"{len(nodes)} node calls were seen for {n_nodes} nodes: call the nodes as modules, "
            "model.nodes[f'x_{i}_{j}'](...), so each one can be counted.")
        for position, (kind, _, level) in enumerate(events):
            if kind != "head":
                continue
            early = [(i, j) for k, i, j in events[:position] if k == "node" and i + j > level]
            if early:
                i, j = early[0]
                raise AssertionError(
                    f"X^{{{i},{j}}} (i + j = {i + j}) ran before the output of L{level} was emitted: an "
                    f"anytime network emits L{level} as soon as its own nodes (i + j <= {level}) exist, "
                    "before any deeper node runs, so it can stop there when time is up. Compute the grid "
                    "diagonal by diagonal, not column by column.")
