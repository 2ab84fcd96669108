"""course_lib reads bottom to top, and each module imports only from its own layer or below:

    base (config) < blocks < models < data and scoring < engine < protocols < viz < explorers and chapters

No import loops (a loop makes the import order matter and hides which module depends on which), and
nothing imports upward, at the top of a file or inside a function."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "course_lib"

LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("base", ("course_lib._autoimport", "course_lib.config", "course_lib.cpu_policy", "course_lib.init")),
    ("blocks", ("course_lib.blocks",)),
    ("models", ("course_lib.models", "course_lib.receptive_field", "course_lib.sizes",
                "course_lib.inspect_model")),
    ("data and scoring", ("course_lib.data", "course_lib.metrics", "course_lib.losses",
                          "course_lib.instance_metrics", "course_lib.lesion_metrics", "course_lib.stats")),
    ("engine", ("course_lib.training", "course_lib.engine", "course_lib.recipes", "course_lib.benchmark")),
    ("protocols", ("course_lib.protocols",)),
    ("viz", ("course_lib.viz",)),
    ("explorers and chapters", ("course_lib.explorers", "course_lib.widgets", "course_lib.exercises",
                                "course_lib.notebook", "course_lib.tour", "course_lib.cli",
                                "course_lib.__main__", "course_lib")),
]


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _layer(module: str) -> int:
    best, length = None, -1
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > length:
                best, length = index, len(prefix)
    assert best is not None, f"{module} belongs to no layer: add it to LAYERS in {__file__}"
    return best


def _imports(module: str, path: Path) -> set[str]:
    """The course_lib modules that ``module`` imports anywhere in its file."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("course_lib")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("course_lib"):
                continue
            for alias in node.names:
                full = f"{target}.{alias.name}"
                found.add(full if full in MODULES else target)
    return {m for m in found if m in MODULES and m != module}


GRAPH = {module: _imports(module, path) for module, path in MODULES.items()}


def test_every_module_has_a_layer():
    for module in MODULES:
        _layer(module)


def test_nothing_imports_upward():
    upward = [f"{m} ({LAYERS[_layer(m)][0]}) imports {d} ({LAYERS[_layer(d)][0]})"
              for m, deps in sorted(GRAPH.items()) for d in sorted(deps) if _layer(d) > _layer(m)]
    assert not upward, "imports that run up the layers:\n" + "\n".join(upward)


def test_no_import_loops():
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    loops: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(GRAPH[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                loops.append(sorted(component))

    for module in sorted(GRAPH):
        if module not in index:
            visit(module)
    assert not loops, "import loops:\n" + "\n".join(" <-> ".join(c) for c in loops)
