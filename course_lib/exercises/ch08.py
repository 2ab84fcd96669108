"""Chapter 08 (UNet++) exercise checkers: the nested forward pass, the deep-supervision loss, and the
parameters a pruned network uses, each against the library's model."""

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


@exercise("08.nested_forward")
def check_nested_forward(fn: Callable[..., dict]) -> None:
    """``fn(model, x) -> {(i, j): X^{i,j}}``: every node of the nested grid, computed with the model's own
    ``model.nodes["x_i_j"]`` and ``model.pool``."""
    for seed, size in ((0, 16), (1, 24)):
        model = _model(seed)
        x = torch.randn(2, 1, size, size, generator=torch.Generator().manual_seed(seed))
        with torch.no_grad():
            X = _call(fn, model, x)
            expected = model(x)  # [head(X04) ...], final first
        assert isinstance(X, dict), f"return a dict {{(i, j): tensor}}, got {type(X).__name__}."
        depth = model.depth
        missing = [(i, j) for j in range(depth + 1) for i in range(depth + 1 - j) if (i, j) not in X]
        assert not missing, f"nodes missing from your dict: {missing[:4]}."
        for j in range(1, depth + 1):
            with torch.no_grad():
                head = model.heads[f"out_{j}"](X[0, j])
            if torch.allclose(head, expected[depth - j], atol=1e-5):
                continue
            node = model.nodes[f"x_0_{j}"]
            with torch.no_grad():  # the usual slip: the upsampled tensor first, the skips after it
                swapped = node.block(torch.cat([node.up(X[1, j - 1])] + [X[0, k] for k in range(j)], dim=1))
            hint = ("the skips come first, in column order, then the upsampled X^{i+1,j-1}: model.nodes["
                    "f'x_{i}_{j}'](X[i + 1, j - 1], torch.cat([X[i, k] for k in range(j)], dim=1))")
            if torch.allclose(X[0, j], swapped, atol=1e-5):
                hint = "you concatenated the upsampled tensor before the skips; " + hint
            raise AssertionError(f"X^{{0,{j}}} differs from the model's: {hint}. Encoder nodes: X[i, 0] = "
                                 "model.nodes[f'x_{i}_0'](x if i == 0 else model.pool(X[i - 1, 0])).")


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
