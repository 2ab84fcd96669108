#!/usr/bin/env bash
# Set everything up on a fresh machine and start the course.
#   bash scripts/quickstart.sh             # .venv + install, then open JupyterLab on notebooks/
#   bash scripts/quickstart.sh --headless  # .venv + install, then train a U-Net from the command line
#                                          # on synthetic vessels and print its metrics and figures
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${VIRTUAL_ENV:-}" ]; then
    [ -d .venv ] || python3 -m venv .venv
    # shellcheck disable=SC1091
    . .venv/bin/activate
fi
python -m pip install --quiet --upgrade pip
bash scripts/install.sh
if [ "${1:-}" = "--headless" ]; then
    python -m course_lib train --model unet --dataset synthetic-vessels --out runs/quickstart
else
    exec jupyter lab notebooks/
fi
