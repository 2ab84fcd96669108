#!/usr/bin/env bash
# The whole test suite: ruff, the unit tests, every notebook under nbval in smoke mode, the widget tests
# and one chapter against Colab's package versions (scripts/test_colab_versions.sh), then the
# full-mode rehearsal (every chapter in full mode on the CPU, each training capped at one optimizer step,
# on the real data in ../shared/data or COURSE_DATA_DIR where present: about 10 minutes on 2 cores).
#   bash scripts/test.sh                 # everything (what CI runs)
#   bash scripts/test.sh --no-rehearsal  # the first three only (about 2 minutes)
# Uses the active environment, else .venv (made by scripts/quickstart.sh); installs the test tools
# if they are missing. Exit 5 from pytest ("no tests collected") is a failure, never a silent pass.
set -uo pipefail
cd "$(dirname "$0")/.."
rehearsal=1
case "${1:-}" in
    "") ;;
    --no-rehearsal) rehearsal=0 ;;
    *) echo "usage: bash scripts/test.sh [--no-rehearsal]" >&2; exit 2 ;;
esac
if [ -z "${VIRTUAL_ENV:-}" ] && [ -f .venv/bin/activate ]; then
    # shellcheck disable=SC1091
    . .venv/bin/activate
fi
python -c "import pytest, nbval, sklearn, course_lib" 2>/dev/null || bash scripts/install.sh --test || exit 1
export COURSE_MODE=smoke MPLBACKEND=Agg PYTHONHASHSEED=0
status=0

ruff check . || status=1

python -m pytest tests -q -p no:cacheprovider
rc=$?; [ $rc -ne 0 ] && { echo "unit tests failed (pytest exit $rc)"; status=1; }

shopt -s nullglob
notebooks=(notebooks/[0-9]*.ipynb)
if [ ${#notebooks[@]} -eq 0 ]; then
    echo "no notebooks found under notebooks/"; status=1
else
    python -m pytest --nbval-lax --nbval-current-env --nbval-cell-timeout=300 -q -p no:cacheprovider \
        "${notebooks[@]}"
    rc=$?; [ $rc -ne 0 ] && { echo "notebook tests failed (pytest exit $rc)"; status=1; }
fi

if [ $rehearsal -eq 1 ]; then
    bash scripts/test_colab_versions.sh || { echo "tests against Colab's package versions failed"; status=1; }
    data="${COURSE_DATA_DIR:-}"
    if [ -z "$data" ] && [ -d ../shared/data ]; then
        data=$(cd ../shared/data && pwd)  # absolute: each chapter runs from a temporary folder
    fi
    COURSE_DATA_DIR="$data" python scripts/rehearse_full.py --max-steps 1 || status=1
fi
exit $status
