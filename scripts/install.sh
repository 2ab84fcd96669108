#!/usr/bin/env bash
# Install the course into the active Python environment without ever upgrading torch.
#   bash scripts/install.sh            # the course + JupyterLab
#   bash scripts/install.sh --test     # + the test tools (pytest, nbval, scikit-learn, ruff)
# torch: kept at the version already installed; if none is, the CPU build 2.13.0 is installed first.
# pip runs with --quiet: one line per stage here instead of pip's progress output (errors still show).
set -euo pipefail
cd "$(dirname "$0")/.."
extras="notebooks" what="course_lib and JupyterLab"
if [ "${1:-}" = "--test" ]; then
    extras="notebooks,dev" what="course_lib, JupyterLab and the test tools"
fi

if torch_version=$(python -c "import torch; print(torch.__version__.split('+')[0])" 2>/dev/null); then
    echo "keeping the installed PyTorch ${torch_version} (it is never upgraded or reinstalled)"
else
    torch_version=2.13.0
    echo "installing PyTorch ${torch_version} (CPU build, about 200 MB; this takes a minute or two)..."
    python -m pip install --quiet "torch==${torch_version}"
fi
constraints=$(mktemp)
trap 'rm -f "$constraints"' EXIT
echo "torch==${torch_version}" > "$constraints"
echo "installing ${what}..."
python -m pip install --quiet -c "$constraints" -e ".[${extras}]"
python -c "import torch, course_lib; print(f'installed course_lib {course_lib.__version__} with torch {torch.__version__}')"
