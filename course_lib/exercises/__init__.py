"""Exercise checkers: ``cl.exercises.check("01.output_size", my_function)``.

Each chapter's module registers checkers with :func:`exercise`. A checker receives the student's
answer and raises ``AssertionError`` with a hint when it is wrong. ``check`` never raises: it prints
a verdict, so an unattempted exercise (a stub raising ``NotImplementedError``) does not stop the notebook,
and neither does an answer of the wrong kind (not a function, or returning the wrong type).
"""

from __future__ import annotations

import sys as _sys
from collections.abc import Callable
from typing import Any

from course_lib._autoimport import import_submodules as _import_submodules

_CHECKERS: dict[str, Callable[[Any], None]] = {}


def exercise(name: str) -> Callable[[Callable[[Any], None]], Callable[[Any], None]]:
    """Register a checker under ``name`` (``"<chapter>.<slug>"``)."""

    def decorator(checker: Callable[[Any], None]) -> Callable[[Any], None]:
        if name in _CHECKERS:
            raise ValueError(f"An exercise named {name!r} is registered already.")
        _CHECKERS[name] = checker
        return checker

    return decorator


def call_answer(fn: Callable[..., Any], *args: Any) -> Any:
    """Call the student's function for a checker; an error inside it becomes a verdict, not a stack trace."""
    if not callable(fn):
        raise AssertionError(f"this exercise takes a function (or a class), but it got {type(fn).__name__} "
                             f"{fn!r:.60}. Pass the name of the function you defined, without calling it.")
    try:
        return fn(*args)
    except (NotImplementedError, AssertionError):
        raise
    except Exception as err:
        import torch

        described = ", ".join(str(tuple(a.shape)) if isinstance(a, torch.Tensor) else
                              type(a).__name__ if isinstance(a, torch.nn.Module) else repr(a) for a in args)
        first_line = str(err).splitlines()[0] if str(err) else ""
        raise AssertionError(f"your function raised {type(err).__name__} for arguments ({described}): "
                             f"{first_line}") from None


def random_weights(module: Any, seed: int, scale: float = 0.5, norm_stats: bool = True) -> Any:
    """``module`` in eval mode with every parameter drawn from N(0, ``scale``^2) (zero biases would hide
    mistakes) and, with ``norm_stats``, random BatchNorm running statistics (2D or 3D), so that BatchNorm
    is a fixed affine map that a mistake cannot hide behind."""
    import torch

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * scale)
        for m in module.modules() if norm_stats else ():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.running_mean is not None:
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.2)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
    return module.eval()


def list_exercises() -> list[str]:
    """All registered exercise names."""
    return sorted(_CHECKERS)


def check(name: str, answer: Any) -> bool:
    """Check ``answer`` for exercise ``name``; print the verdict and return whether it passed."""
    if name not in _CHECKERS:
        raise ValueError(f"No exercise {name!r}. Known: {', '.join(list_exercises())}.")
    try:
        _CHECKERS[name](answer)
    except NotImplementedError:
        print(f"[{name}] not attempted yet: replace the `raise NotImplementedError` with your code.")
        return False
    except AssertionError as err:
        print(f"[{name}] not yet: {err}")
        return False
    except Exception as err:  # the answer broke the checker itself: e.g. a wrong return type
        first_line = str(err).splitlines()[0] if str(err) else ""
        print(f"[{name}] not yet: your answer could not be checked ({type(err).__name__}: {first_line}). "
              "Check what your function returns: its type and shape must be what the exercise asks for.")
        return False
    print(f"[{name}] correct.")
    return True


__all__ = ["call_answer", "check", "exercise", "list_exercises", "random_weights"]
_import_submodules(_sys.modules[__name__])
