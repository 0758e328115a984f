"""S.U.N. of two of our models through the same protocol and hull: difference, bootstrap interval, Fisher's test.

    .venv/bin/python -m studies.chemistry.sun_between_models results/paper/sun_known.csv \
        studies/chemistry/results/sun_known_former_default.csv \
        --labels "default since 2026-12-04" "former default (2026-12-03)" --name sun_default_vs_former

Each input is a `sun_known.csv` (notebook 05 or `studies.yardstick.sun_known`); its row "WyckoffTransformer (this
repo)" gives the structures with an E_hull and the S.U.N. counts with novelty against train+val and against every
known MP structure. The per-structure 0/1 flags are rebuilt from those counts (the bootstrap of
`wylib.metrics.comparison.proportion_difference` depends on nothing else). Writes studies/chemistry/results/<name>.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

RESULTS = Path(__file__).resolve().parent / "results"


OURS = "WyckoffTransformer (this repo)"
REFERENCES = {"train+val (paper)": "S.U.N. vs train+val", "every known MP structure": "S.U.N. vs known"}


def flags(n: int, k: int) -> np.ndarray:
    """n structures of which k count (the order does not matter to the bootstrap)."""
    return np.arange(n) < k


def compare(a: pd.Series, b: pd.Series, n_boot: int = 1000) -> pd.DataFrame:
    from wylib.metrics.comparison import proportion_difference

    rows = []
    for ref, col in REFERENCES.items():
        d = proportion_difference(
            flags(int(a["with E_hull"]), int(a[col])), flags(int(b["with E_hull"]), int(b[col])), n_boot=n_boot
        )
        rows.append(
            {
                "novelty against": ref,
                "S.U.N. a": f"{d.k_a}/{d.n_a}",
                "S.U.N. b": f"{d.k_b}/{d.n_b}",
                "a - b, pp": round(d.difference.value, 1),
                "95 % CI": d.interval(),
                "Fisher p": round(d.p_value, 3),
            }
        )
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> pd.DataFrame:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--labels", nargs=2, default=["a", "b"])
    ap.add_argument("--n-bootstrap", type=int, default=1000)
    ap.add_argument("--name", default="sun_between_models")
    ap.add_argument("--results-dir", default=str(RESULTS))
    a = ap.parse_args(argv)
    rows = [pd.read_csv(p).set_index("set").loc[OURS] for p in (a.a, a.b)]
    table = compare(*rows, n_boot=a.n_bootstrap)
    text = (
        f"# S.U.N.: {a.labels[0]} (a) minus {a.labels[1]} (b)\n\nSame protocol and hull; counts from `{a.a}` (a) and "
        f"`{a.b}` (b); bootstrap 95 % over the structures of each set, Fisher's exact test.\n\n"
        + table.to_markdown(index=False)
        + "\n"
    )
    (Path(a.results_dir) / f"{a.name}.md").write_text(text)
    print(text)
    return table


if __name__ == "__main__":
    main()
