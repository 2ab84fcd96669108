#!/usr/bin/env bash
# The widget tests, the explorers' tests and one chapter (smoke mode, nbval) against Colab's versions of
# ipywidgets, numpy and matplotlib (scripts/colab_versions.txt), laid over the active environment through
# PYTHONPATH, so that nothing installed is changed. Colab's own widget support renders ipywidgets 7.x only.
#   bash scripts/test_colab_versions.sh            # about a minute
set -uo pipefail
cd "$(dirname "$0")/.."
if [ -z "${VIRTUAL_ENV:-}" ] && [ -f .venv/bin/activate ]; then
    # shellcheck disable=SC1091
    . .venv/bin/activate
fi
overlay=$(mktemp -d)
trap 'rm -rf "$overlay"' EXIT
grep -v '^#' scripts/colab_versions.txt | xargs python -m pip install --quiet --no-deps --target "$overlay" \
    2> >(grep -v "^WARNING: Location" >&2) || { echo "could not fetch Colab's versions"; exit 1; }
export PYTHONPATH="$overlay${PYTHONPATH:+:$PYTHONPATH}" COURSE_MODE=smoke MPLBACKEND=Agg PYTHONHASHSEED=0
python -c "import ipywidgets, numpy, matplotlib; print(f'Colab versions: ipywidgets {ipywidgets.__version__}, '
           f'numpy {numpy.__version__}, matplotlib {matplotlib.__version__}')"
status=0
python -m pytest -q -p no:cacheprovider -W ignore::DeprecationWarning tests/test_widgets.py \
    tests/test_explorers_*.py || status=1
python -m pytest --nbval-lax --nbval-current-env --nbval-cell-timeout=300 -q -p no:cacheprovider \
    -W ignore::DeprecationWarning notebooks/03_dropblock.ipynb || status=1
exit $status
