#!/usr/bin/env bash
# Create (or refresh) the project's virtual environment .venv with the pinned packages.
# Idempotent: does nothing when .venv already matches requirements*.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
stamp=.venv/.requirements.sha256
want=$(cat requirements.txt requirements-lock.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
echo "[setup_env] creating .venv with pinned packages (a few minutes the first time)"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
# torch first, pinned, so that no other package pulls a CUDA build
.venv/bin/python -m pip install --quiet torch==2.13.0
.venv/bin/python -m pip install --quiet -r requirements.txt -c requirements-lock.txt
.venv/bin/python -m pip install --quiet --no-deps -e .
.venv/bin/python -m ipykernel install --sys-prefix --name python3 >/dev/null
echo "$want" > "$stamp"
echo "[setup_env] done: $(.venv/bin/python -c 'import torch, pymatgen.core as p, pyxtal, chgnet; print("torch", torch.__version__, "pymatgen", p.__version__, "pyxtal", pyxtal.__version__, "chgnet", chgnet.__version__)')"
