#!/usr/bin/env bash
# Install the course into the active Python environment without ever upgrading torch.
#   bash scripts/install.sh            # the course + JupyterLab
#   bash scripts/install.sh --test     # + the test tools (pytest, nbval, scikit-learn, ruff)
# torch: kept at the version already installed; if none is, the CPU build 2.13.0 is installed first.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="notebooks"
[ "${1:-}" = "--test" ] && extras="notebooks,dev"

if python -c "import torch" 2>/dev/null; then
    torch_version=$(python -c "import torch; print(torch.__version__.split('+')[0])")
else
    torch_version=2.13.0
    python -m pip install --quiet "torch==${torch_version}"
fi
constraints=$(mktemp)
trap 'rm -f "$constraints"' EXIT
echo "torch==${torch_version}" > "$constraints"
python -m pip install --quiet -c "$constraints" -e ".[${extras}]"
python -c "import torch, course_lib; print(f'course_lib {course_lib.__version__} with torch {torch.__version__}')"
