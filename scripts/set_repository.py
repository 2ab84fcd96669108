"""Rewrite every notebook's Colab badge and Colab install cell from ``[tool.course]`` in pyproject.toml.

    python scripts/set_repository.py           # rewrite notebooks/*.ipynb in place
    python scripts/set_repository.py --check   # exit 1 if any notebook disagrees with the setting

The repository address lives in exactly one place (pyproject.toml); this script is how it reaches
the notebooks, so publishing under a new address is a one-line change plus one command.

Links from a chapter to the repository's own files (``docs/``, ``scripts/``, ...) are made absolute, to
the same repository and branch, so that they work in Colab, where the chapter stands alone.

The install cell pins the course to the release ``v<version>`` (``[project] version``), a git tag, not a
moving branch, so that every chapter of a Colab session comes from the same commit; it installs nothing
when that version is already there (the second chapter of a session skips the 10-s rebuild). When you
publish a release, tag its commit ``v<version>`` and push the tag.
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
# a link from a chapter to a file of the repository: relative (works only in a clone) or already absolute
REPO_LINK_RE = re.compile(r"\]\((?:\.\./|https://github\.com/[^/)\s]+/[^/)\s]+/blob/[^/)\s]+/)"
                          r"((?:docs|scripts|benchmarks|course_lib|tests|data)/[^)\s]*|README\.md[^)\s]*)\)")
INSTALL_CELL = """\
# Colab only: install course_lib {version} unless this session has it (Colab's torch and widgets are kept).
import sys

if "google.colab" in sys.modules:
    from importlib.metadata import PackageNotFoundError, version

    try:
        installed = version("course_lib")
    except PackageNotFoundError:
        installed = None
    if installed != "{version}":
        %pip install -q "{spec}"
"""


def course_settings(root: Path = ROOT) -> tuple[str, str]:
    """(repository URL, branch) from pyproject.toml's [tool.course]."""
    settings = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["course"]
    return settings["repository"].rstrip("/"), settings["branch"]


def course_version(root: Path = ROOT) -> str:
    return tomllib.loads((root / "pyproject.toml").read_text())["project"]["version"]


def colab_url(notebook: Path, repository: str, branch: str) -> str:
    owner_repo = repository.removeprefix("https://github.com/")
    return f"https://colab.research.google.com/github/{owner_repo}/blob/{branch}/notebooks/{notebook.name}"


def install_spec(repository: str, version: str) -> str:
    return f"course_lib @ git+{repository}@v{version}"


def install_cell(repository: str, version: str) -> str:
    return INSTALL_CELL.format(version=version, spec=install_spec(repository, version)).rstrip("\n")


def rewrite(notebook: Path, repository: str, branch: str, version: str | None = None) -> tuple[str, str]:
    """Return (old text, new text) of the notebook with its badge and install cell rewritten."""
    version = version or course_version()
    old = notebook.read_text()
    nb = json.loads(old)
    for cell in nb["cells"]:
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        source = BADGE_RE.sub(colab_url(notebook, repository, branch), source)
        if cell["cell_type"] == "markdown":  # a chapter opened in Colab stands alone: absolute links
            source = REPO_LINK_RE.sub(lambda m: f"]({repository}/blob/{branch}/{m.group(1)})", source)
        if cell["cell_type"] == "code" and source.startswith("# Colab only"):
            source = install_cell(repository, version)
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
        elif "](../" in new:
            stale.append(f"{notebook.name}: a relative link outside notebooks/ (../) that no rule rewrites")
        elif json.loads(old) != json.loads(new):
            stale.append(f"{notebook.name}: badge/install cell differ from pyproject.toml")
            if not args.check:
                notebook.write_text(new)
    if args.check and stale:
        print("\n".join(stale))
        return 1
    print(f"{'checked' if args.check else 'rewrote'} notebooks for {repository}@{branch} "
          f"(install: v{course_version()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
