#!/usr/bin/env bash
# The test command of the README: sets up .venv when needed, lints with ruff (config in pyproject.toml; a lint
# error fails the run), then runs the whole pytest suite (unit tests, the notebook chain through papermill in the
# smoke profile). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup_env.sh
.venv/bin/ruff check wylib tests studies tools bench
# Formatting check (the tree is formatted with `ruff format`; run it on your files before committing).
.venv/bin/ruff format --check wylib tests studies tools bench
export WYLIB_DATA_DIR=${WYLIB_DATA_DIR:-$(cd .. && pwd)/shared/data}
export WYLIB_AUTO_DOWNLOAD=${WYLIB_AUTO_DOWNLOAD:-0}
export MPLBACKEND=Agg
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
