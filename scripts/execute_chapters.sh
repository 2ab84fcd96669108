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
log=$(mktemp)
trap 'rm -f "$log"' EXIT
run() {  # writes the notebook only when every cell ran; replies are polled in 1-s steps (nbclient#312)
    timeout 2400 python scripts/polling_client.py "$1" >"$log" 2>&1 || { tail -5 "$log"; return 1; }
}
for nb in "${notebooks[@]}"; do
    start=$(date +%s)
    # a kernel that still stops answering fails the cell after 15 minutes; such a run is retried once
    if run "$nb" || { echo "$nb: retrying after $(( $(date +%s) - start )) s"; start=$(date +%s); run "$nb"; }; then
        # short tracebacks, no machine paths (COURSE_DATA_DIR, home, site-packages), no stale widgets, a kernelspec
        python scripts/tidy_outputs.py "$nb" >/dev/null
        echo "$nb: ${COURSE_MODE} mode, $(( $(date +%s) - start )) s, $(du -h "$nb" | cut -f1)"
    else
        echo "$nb: FAILED after $(( $(date +%s) - start )) s (run it in JupyterLab to see where)"; status=1
    fi
done
exit $status
