#!/usr/bin/env bash
# Time training, sampling and the full protocol's relax stage on this machine (see tools/gpu_check.py).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup_env.sh
export WYLIB_DATA_DIR=${WYLIB_DATA_DIR:-$(cd .. && pwd)/shared/data}
exec .venv/bin/python -m tools.gpu_check "$@"
