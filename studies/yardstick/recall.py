"""The authors' unseen training split, measured: recall rates of reference splits, and rediscovery tables rebuilt
from studies.yardstick import composition
from committed counts (used by `studies.yardstick.sun_unseen`).

`recall_rates` checks the assumption behind `composition.UnseenSplit` at the Wyckoff level, where samples
are many: splits drawn at random from one set and unseen by a model are recalled alike per class.
`table_from_counts` turns a committed `wylib.rediscovery.summary_row` back into a per-structure table, so that
`studies.yardstick.composition.unseen_comparison` and its bootstrap can be rerun without the structures.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from wylib import metrics


def table_from_counts(row: dict | pd.Series) -> pd.DataFrame:
    """A rediscovery table (structures with an E_hull) with the counts of a `wylib.rediscovery.summary_row`: the
    statistics here depend only on each structure's category (S.U.N. vs known, rediscovered in test or MPTS-52,
    neither), so this reproduces them, and their bootstrap, exactly from committed counts."""
    n, k_known = int(row["with E_hull"]), int(row["S.U.N. vs known"])
    k_test, k_mpts = int(row["rediscovered in test"]), int(row["rediscovered in MPTS-52"])
    if k_known + k_test + k_mpts != int(row["S.U.N. vs train+val"]) or k_known + k_test + k_mpts > n:
        raise ValueError(f"inconsistent counts: {dict(row)}")
    cats = ["known"] * k_known + ["test"] * k_test + ["mpts_52"] * k_mpts + [""] * (n - k_known - k_test - k_mpts)
    c = np.array(cats)
    return pd.DataFrame(
        {
            "e_hull": np.zeros(n),
            "sun_train_val": c != "",
            "sun_known": c == "known",
            "rediscovered_in": np.where(np.isin(c, ["test", "mpts_52"]), c, ""),
        }
    )


def recall_rates(
    samples: Sequence, references: dict[str, Sequence], baseline: str, n_bootstrap: int = 1000, seed: int = 0
) -> pd.DataFrame:
    """How often a set of Wyckoff representations recalls each reference split, per reference class.

    `samples`: representations (None = invalid, skipped; only the first of each canonical class counts);
    `references`: split name -> representations. Per split: its distinct canonical classes, the share of
    samples in one of them, that share per 1000 classes, and its ratio to the `baseline` split's (bootstrap
    over the samples). Splits drawn at random from one set and unseen by the model have a ratio of 1 (the
    assumption behind `composition.UnseenSplit`); a training split's ratio is the model's recall factor."""
    if baseline not in references:
        raise ValueError(f"baseline {baseline!r} is not one of {sorted(references)}")
    keys, seen = [], set()
    for r in samples:
        if r is None:
            continue
        k = r.canonical()
        if k not in seen:
            seen.add(k)
            keys.append(k)
    if not keys:
        raise ValueError("no valid samples")
    classes = {name: {r.canonical() for r in refs if r is not None} for name, refs in references.items()}
    hits = {name: np.array([k in c for k in keys], float) for name, c in classes.items()}
    rows = []
    for name, h in hits.items():
        n_cls = len(classes[name])
        ratio = metrics.bootstrap_ci(
            lambda x, n=n_cls: (
                (x[:, 0].mean() / n) / (x[:, 1].mean() / len(classes[baseline])) if x[:, 1].any() else float("nan")
            ),
            np.column_stack([h, hits[baseline]]),
            n_boot=n_bootstrap,
            seed=seed,
        )
        rows.append(
            {
                "split": name,
                "classes": n_cls,
                "samples": len(keys),
                "matches": int(h.sum()),
                "share %": 100 * h.mean(),
                "share % per 1000 classes": 100 * h.mean() / n_cls * 1000,
                f"ratio to {baseline}": ratio.value,
                "ratio 95 % CI": f"[{ratio.low:.2f}, {ratio.high:.2f}]",
            }
        )
    return pd.DataFrame(rows)
