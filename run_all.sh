#!/usr/bin/env bash
# Rerun the whole study: the numbered notebooks in order through papermill, under a profile.
set -euo pipefail
cd "$(dirname "$0")"
usage() {
  cat <<'TXT'
usage: bash run_all.sh [--profile smoke|paper|full|mp_20] [--out DIR] [--only NN ...] [--force]

Runs notebooks/01..06 in order through papermill with the parameters of a profile
(notebooks/profiles.yml), each notebook fed the outputs of the previous ones:
  smoke  a few minutes, tiny parameters (used by the tests)
  paper  the whole study on mp_20_biternary_open on 2 CPU cores (default)
  full   the paper's counts (1000 relaxed structures, several trials): for a GPU or a Dask cluster
  mp_20  the paper profile on the full MP-20 benchmark (downloaded on first use: needs internet)
Executed notebooks go to <out>/notebooks (default out: output/<profile>), results to
<out>/results and <out>/figures; paper and full also publish them to results/<profile>/ and
figures/<profile>/, and the executed notebooks (each under 2 MB) to notebooks/<profile>/.
A notebook already complete for the same parameters (and the same upstream runs) is skipped,
so rerunning after a crash or a kill continues where it stopped. The first failing notebook
stops the run, naming the notebook and the cell. Table 1 is printed at the end.
The first call creates .venv (tools/setup_env.sh). The data directory is $WYLIB_DATA_DIR
(default ../shared/data).
TXT
}
for arg in "$@"; do
  case "$arg" in -h|--help) usage; exit 0 ;; esac
done
bash tools/setup_env.sh
export WYLIB_DATA_DIR=${WYLIB_DATA_DIR:-$(cd .. && pwd)/shared/data}
export MPLBACKEND=Agg
exec .venv/bin/python -m wylib.pipeline "$@"
