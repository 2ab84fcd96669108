#!/usr/bin/env bash
# Execute chapters in place (stored outputs = a real run) and print each one's wall time.
#   bash scripts/execute_chapters.sh                      # every chapter, quick mode
#   COURSE_MODE=full bash scripts/execute_chapters.sh notebooks/06_*.ipynb
# Real data is read from COURSE_DATA_DIR (default data/); chapters fall back to synthetic data without it.
set -uo pipefail
cd "$(dirname "$0")/.."
if [ -z "${VIRTUAL_ENV:-}" ] && [ -f .venv/bin/activate ]; then
    # shellcheck disable=SC1091
    . .venv/bin/activate
fi
export COURSE_MODE="${COURSE_MODE:-quick}" MPLBACKEND=Agg
notebooks=("$@")
[ ${#notebooks[@]} -eq 0 ] && notebooks=(notebooks/[0-9]*.ipynb)
status=0
for nb in "${notebooks[@]}"; do
    start=$(date +%s)
    # nbconvert writes the notebook only when every cell ran; a hung kernel is stopped after 40 minutes
    if timeout 2400 jupyter nbconvert --to notebook --execute --inplace --ExecutePreprocessor.timeout=1800 \
        "$nb" >/dev/null 2>&1; then
        echo "$nb: ${COURSE_MODE} mode, $(( $(date +%s) - start )) s, $(du -h "$nb" | cut -f1)"
    else
        echo "$nb: FAILED after $(( $(date +%s) - start )) s (run it in JupyterLab to see where)"; status=1
    fi
done
exit $status
