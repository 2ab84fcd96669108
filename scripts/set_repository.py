"""Rewrite every notebook's Colab badge and Colab install cell from ``[tool.course]`` in pyproject.toml.

    python scripts/set_repository.py           # rewrite notebooks/*.ipynb in place
    python scripts/set_repository.py --check   # exit 1 if any notebook disagrees with the setting

The repository address lives in exactly one place (pyproject.toml); this script is how it reaches
the notebooks, so publishing under a new address is a one-line change plus one command.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]
BADGE_RE = re.compile(r"https://colab\.research\.google\.com/github/[^)\s\"]+")
INSTALL_RE = re.compile(r"course_lib @ git\+[^\"'\s]+")


def course_settings(root: Path = ROOT) -> tuple[str, str]:
    """(repository URL, branch) from pyproject.toml's [tool.course]."""
    settings = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["course"]
    return settings["repository"].rstrip("/"), settings["branch"]


def colab_url(notebook: Path, repository: str, branch: str) -> str:
    owner_repo = repository.removeprefix("https://github.com/")
    return f"https://colab.research.google.com/github/{owner_repo}/blob/{branch}/notebooks/{notebook.name}"


def install_spec(repository: str, branch: str) -> str:
    return f"course_lib @ git+{repository}@{branch}"


def rewrite(notebook: Path, repository: str, branch: str) -> tuple[str, str]:
    """Return (old text, new text) of the notebook with badge and install spec rewritten."""
    old = notebook.read_text()
    nb = json.loads(old)
    for cell in nb["cells"]:
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        source = BADGE_RE.sub(colab_url(notebook, repository, branch), source)
        source = INSTALL_RE.sub(install_spec(repository, branch), source)
        cell["source"] = source.splitlines(keepends=True)
    return old, json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


def has_badge_and_install(text: str) -> bool:
    return bool(BADGE_RE.search(text)) and bool(INSTALL_RE.search(text))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report notebooks that disagree")
    args = parser.parse_args(argv)
    repository, branch = course_settings()
    stale = []
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        old, new = rewrite(notebook, repository, branch)
        if not has_badge_and_install(new):
            stale.append(f"{notebook.name}: no Colab badge or install cell")
        elif json.loads(old) != json.loads(new):
            stale.append(f"{notebook.name}: badge/install cell differ from pyproject.toml")
            if not args.check:
                notebook.write_text(new)
    if args.check and stale:
        print("\n".join(stale))
        return 1
    print(f"{'checked' if args.check else 'rewrote'} notebooks for {repository}@{branch}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
