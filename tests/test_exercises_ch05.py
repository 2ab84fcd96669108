"""Chapter 05's new exercise: the checker accepts the offsets a dilated stack reads and gives targeted
hints for the typical mistakes (the whole box, the union of taps, no dilation, uncentred kernels)."""

from __future__ import annotations

import course_lib as cl


def solution(kernel: int, rates: tuple[int, ...]) -> list[int]:
    offsets = {0}
    for d in rates:
        offsets = {o + d * (t - (kernel - 1) // 2) for o in offsets for t in range(kernel)}
    return sorted(offsets)


def verdict(answer, capsys) -> str:
    cl.exercises.check("05.reachable_offsets", answer)
    return capsys.readouterr().out


def test_solution_passes(capsys) -> None:
    assert "correct" in verdict(solution, capsys)


def test_typical_mistakes_get_their_hint(capsys) -> None:
    def whole_box(kernel, rates):
        half = sum(d * (kernel - 1) // 2 for d in rates)
        return list(range(-half, half + 1))

    def union(kernel, rates):
        return sorted({d * (t - (kernel - 1) // 2) for d in rates for t in range(kernel)})

    def no_dilation(kernel, rates):
        return solution(kernel, (1,) * len(rates))

    def uncentred(kernel, rates):
        return sorted({o + d * t for o in [0] for d in rates[:1] for t in range(kernel)}
                      if len(rates) == 1 else {sum(p) for p in _products(kernel, rates)})

    def _products(kernel, rates):
        sums = [()]
        for d in rates:
            sums = [(*s, d * t) for s in sums for t in range(kernel)]
        return sums

    assert "every offset of the analytic box" in verdict(whole_box, capsys)
    assert "union of the layers' own taps" in verdict(union, capsys)
    assert "ignored the dilation" in verdict(no_dilation, capsys)
    assert "Centre each kernel" in verdict(uncentred, capsys)
    assert "integer offsets" in verdict(lambda k, r: 3, capsys)
