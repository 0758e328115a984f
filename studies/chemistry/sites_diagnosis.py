"""Where sites KS, elements KS and charge neutrality come from: per-set CDFs and shares, raw and filtered.

    WYLIB_DATA_DIR=../shared/data .venv/bin/python -m studies.chemistry.sites_diagnosis \
        --run-dirs runs/default output/x/model

Per run: 10,000 free samples at T = 1 (seed 0, space groups from train+val, as `studies.chemistry.score_model`); the
share of samples with at most 1..8 sites among the valid ones, the valid ones with at most 3 elements, and the valid,
Wyckoff-unique and Wyckoff-novel ones (the set that Table 1's sites KS compares with the test split), next to the
train+val and test splits. Writes studies/chemistry/results/<name>.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from studies.common import free_samples
from studies.provenance import command_line, host_stamp

RESULTS = Path(__file__).resolve().parent / "results"


KS = range(1, 9)
SITE_BINS = ((1, 3), (4, 6), (7, 10**6))  # sites ranges of the neutral-% columns; the last is open


def site_mix(t) -> dict[int, float]:
    """Share of each number of sites (8 and more pooled as 8) in a `wyckoff_table` frame."""
    x = t.n_sites.clip(upper=8)
    return (x.value_counts() / len(x)).to_dict()


def standardized_neutral(t, mix: dict[int, float]) -> float:
    """Charge-neutral % of `t` with its per-number-of-sites rates weighted by `mix` (direct standardisation:
    the neutrality a set would have with the reference's length distribution)."""
    x = t.n_sites.clip(upper=8)
    neutral = t.charge_neutral == True  # noqa: E712
    rates = neutral.groupby(x).mean()
    return 100 * sum(w * rates.get(k, float("nan")) for k, w in mix.items()) / sum(mix.values())


def cdf_row(name: str, t, mix: dict[int, float] | None = None) -> dict:
    """Size, mean sites, CDF of sites at 1..8, shares of 2 and 3 distinct elements and their charge-neutral
    shares (paper style, SMACT 2014 list) of one `wylib.evaluate.wyckoff_table` frame, the neutral share by
    number of sites and, given the test split's `mix`, standardised to its length distribution."""
    x, e = t.n_sites.to_numpy(), t.n_elements.to_numpy()
    neutral = (t.charge_neutral == True).to_numpy()  # noqa: E712 (None = not checked counts as not neutral)
    by_sites = {
        f"neutral % of {lo}-{hi} sites" if hi < 10**6 else f"neutral % of {lo}+ sites": 100
        * neutral[(x >= lo) & (x <= hi)].mean()
        for lo, hi in SITE_BINS
    }
    standard = {} if mix is None else {"neutral %, test sites mix": standardized_neutral(t, mix)}
    return {
        "set": name,
        "n": len(x),
        "mean sites": round(float(x.mean()), 3),
        **{f"<={k}": (x <= k).mean() for k in KS},
        "2 el": (e == 2).mean(),
        "3 el": (e == 3).mean(),
        "neutral %": 100 * neutral.mean(),
        "neutral % of 2 el": 100 * neutral[e == 2].mean(),
        "neutral % of 3 el": 100 * neutral[e == 3].mean(),
        **by_sites,
        **standard,
    }


def table_rows(name: str, t, mix: dict[int, float]) -> list[dict]:
    """Rows for the valid, the valid <= 3-element and the valid, unique and novel (Table 1) part of a table."""
    valid = t[t.valid]
    kept = valid[valid.wyckoff_unique & valid.wyckoff_novel]
    few = valid[valid.n_elements <= 3]
    return [
        cdf_row(f"{name}: valid", valid, mix),
        cdf_row(f"{name}: valid, <= 3 elements", few, mix),
        cdf_row(f"{name}: valid, unique, novel (Table 1)", kept, mix),
    ]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run-dirs", nargs="+", required=True, type=Path)
    ap.add_argument("--name", default="sites_diagnosis", help="studies/chemistry/results/<name>.md")
    ap.add_argument("--n-samples", type=int, default=10000)
    ap.add_argument("--authors", action="store_true", help="add the authors' released 2-3-element genes")
    args = ap.parse_args(argv)
    import pandas as pd
    import torch

    from wylib import evaluate as ev

    torch.set_num_threads(1)
    refs = ev.load_references("mp_20_biternary_open")
    canonical = {r.canonical() for r in refs.train_val}
    test = ev.wyckoff_table(refs.test)
    mix = site_mix(test)
    rows = [cdf_row("train+val split", ev.wyckoff_table(refs.train_val), mix), cdf_row("test split", test, mix)]
    if args.authors:
        genes = ev.release_gene_set()
        rows += table_rows("authors' genes (2-3 el.)", ev.wyckoff_table(genes.representations, canonical), mix)
    for run in args.run_dirs:
        res = free_samples(run, args.n_samples)
        rows += table_rows(str(run), ev.wyckoff_table(res.representations, canonical), mix)
        print(rows[-1], flush=True)
    table = pd.DataFrame(rows).round(3)
    cmd = command_line("studies.chemistry.sites_diagnosis")
    text = (
        f"# Number of sites: samples against the data\n\n{host_stamp()}. "
        f"Command (repository root):\n\n    {cmd}\n\n{args.n_samples} free samples at T = 1 per model (seed 0); "
        f"columns `<=k`: share of the set with at most k sites; `2 el`, `3 el`: share with 2 and 3 distinct "
        f"elements (Table 1's elements KS is the largest gap of this CDF); `neutral %`: charge-neutral share "
        f"(Table 1's paper-style SMACT check), overall, per number of elements and per number of sites; "
        f"`neutral %, test sites mix`: the per-number-of-sites neutral shares (8+ pooled) weighted by the test "
        f"split's number-of-sites distribution (what the set's neutrality would be at the data's lengths).\n\n"
        + table.to_markdown(index=False)
        + "\n"
    )
    (RESULTS / f"{args.name}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
