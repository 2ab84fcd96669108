#!/usr/bin/env bash
# Set everything up on a fresh machine and start the course.
#   bash scripts/quickstart.sh                  # .venv + install, then JupyterLab on notebooks/
#   bash scripts/quickstart.sh --no-browser --port 8890   # any other arguments go to JupyterLab
#   bash scripts/quickstart.sh --headless       # .venv + install, then train a U-Net from the command
#                                               # line on synthetic vessels and print its metrics and
#                                               # figures (arguments after it go to `course_lib train`)
# Works as root too (Docker, cloud VMs): JupyterLab then gets --allow-root.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${VIRTUAL_ENV:-}" ]; then
    if [ ! -d .venv ]; then
        echo "creating a virtual environment in .venv..."
        python3 -m venv .venv
    fi
    # shellcheck disable=SC1091
    . .venv/bin/activate
fi
echo "updating pip in ${VIRTUAL_ENV}..."
python -m pip install --quiet --upgrade pip
bash scripts/install.sh

if [ "${1:-}" = "--headless" ]; then
    shift
    echo "training a U-Net on synthetic vessels from the command line..."
    exec python -m course_lib train --model unet --dataset synthetic-vessels --out runs/quickstart "$@"
fi

# JupyterLab replaces this shell below (exec), so it keeps this PID and writes its address to
# jpserver-<PID>.json in Jupyter's runtime folder; a background loop waits for that file and prints
# the address. -y: one Ctrl-C stops JupyterLab without asking for confirmation.
info="$(jupyter --runtime-dir)/jpserver-$$.json"
rm -f "$info"  # left over from an earlier process with this PID, if any
lab_url() {  # the address in that file, with its token
    python - "$info" 2>/dev/null <<'EOF'
import json, sys
info = json.load(open(sys.argv[1]))
print(info["url"] + "lab" + ("?token=" + info["token"] if info["token"] else ""))
EOF
}
(
    for _ in {1..60}; do
        sleep 1
        kill -0 $$ 2>/dev/null || exit 0  # JupyterLab stopped: its own messages above say why
        if [ -s "$info" ] && url=$(lab_url); then
            printf '\nJupyterLab is running: open %s (Ctrl-C to stop)\n\n' "$url"
            exit 0
        fi
    done
    echo "quickstart: JupyterLab gave no address within 60 s; look for its 'http://' lines or errors above." >&2
) &
if [ "$EUID" -eq 0 ]; then
    set -- --allow-root "$@"  # root (Docker, cloud VMs): JupyterLab refuses to start without it
fi
echo "starting JupyterLab on notebooks/..."
exec jupyter lab -y notebooks/ "$@"
