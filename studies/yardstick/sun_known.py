"""S.U.N. of our samples and the authors' under two novelty yardsticks: train+val (the paper's) and every known
MP structure held here (`wylib.rediscovery`), with the rediscoveries counted by source.

    WYLIB_DATA_DIR=../shared/data .venv/bin/python -m studies.yardstick.sun_known \
        --ours output/paper/generated --theirs output/paper/generated_authors --name sun_known

`--ours` / `--theirs`: generated directories written by notebook 04 (`generated.jsonl`; the authors' genes
through this repo's protocol are `generated_authors`), or `release` for the authors' released relaxed
samples with 2-3 elements (their own protocol: not the same protocol, said so in the output).
Writes into ``--results-dir`` (default studies/yardstick/results): <name>.{csv,md} (per set: counts),
<name>_difference.csv (ours - theirs under both yardsticks), <name>_by_elements.csv (stable and S.U.N. shares by
number of distinct elements) and <name>_by_formula.csv (the same within "formula in train+val / known elsewhere /
new"; the stable share ours minus theirs per class in <name>_by_formula_difference.csv; the new-formula samples by
whether their chemical system is known in <name>_new_formulas_by_system*.csv). Notebook 05 writes the first two
for the run it evaluates (`results/paper/sun_known*`); the composition tables of the paper run of 2026-12-04 (written
by notebook 05 then) are `results/paper_run_sun_by_composition*`.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import time
from pathlib import Path

import pandas as pd

from studies.yardstick import composition
from wylib.constants import STABILITY_THRESHOLD

RESULTS = Path(__file__).resolve().parent / "results"


def load_set(where: str, set_id: str, name: str = ""):
    """The set at `where` ("release": the authors' relaxed set) with E_hull; id `set_id` (`wylib.evaluate.ROW_LABELS`)
    unless it is the release, label `name` or the id's."""
    from wylib import evaluate as ev

    if where == "release":
        s = ev.release_relaxed_set((2, 3), name=name)
    else:
        s, found = ev.read_generated(where, set_id, name=name)
        if s is None or s.structures is None:
            raise SystemExit(f"{where}: no relaxed structures ({'; '.join(found)})")
    reason = ev.attach_hull(s)
    if reason:
        raise SystemExit(f"{where}: no E_hull ({reason})")
    return s


def arity_breakdown(s, t: pd.DataFrame) -> pd.DataFrame:
    """Share of each number of distinct elements, and stable / S.U.N. shares within it (structures with E_hull)."""
    t = t.assign(n_elements=[len(x.composition.elements) if x is not None else 0 for x in s.structures])
    t = t[t["e_hull"].notna()]
    g = t.groupby("n_elements")
    return pd.DataFrame(
        {
            "set": s.name,
            "elements": g.size().index,
            "share %": 100 * g.size().to_numpy() / len(t),
            "stable %": 100 * g["e_hull"].apply(lambda e: (e <= STABILITY_THRESHOLD).mean()).to_numpy(),
            "S.U.N. % vs train+val": 100 * g["sun_train_val"].mean().to_numpy(),
            "S.U.N. % vs known": 100 * g["sun_known"].mean().to_numpy(),
            "n": g.size().to_numpy(),
        }
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ours", default="output/paper/generated")
    ap.add_argument("--theirs", default="output/paper/generated_authors")
    ap.add_argument("--n-bootstrap", type=int, default=1000)
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--name", default="sun_known", help="<name>.{csv,md} and <name>_*.csv in --results-dir")
    ap.add_argument("--results-dir", type=Path, default=RESULTS)
    args = ap.parse_args()

    from wylib import rediscovery

    t0 = time.time()
    ours = load_set(args.ours, "ours")
    theirs_name = (
        "WyFormer relaxed, 2-3 el. (authors' model AND protocol: not the same protocol)"
        if args.theirs == "release"
        else ""
    )
    theirs = load_set(args.theirs, "authors_our_protocol", theirs_name)
    known = rediscovery.known_frame()
    table, diff, tables = rediscovery.compare_sets(
        ours, theirs, known=known, n_jobs=args.n_jobs, n_bootstrap=args.n_bootstrap
    )
    by_arity = pd.concat([arity_breakdown(s, tables[s.name]) for s in (ours, theirs)], ignore_index=True)
    by_class = composition.stability_by_composition(ours, theirs, tables, known, n_bootstrap=args.n_bootstrap)
    ratio = composition.unseen_split().ratio_beyond_known
    out = args.results_dir
    flag = "" if out == RESULTS else f" --results-dir {out}"
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / f"{args.name}.csv", index=False)
    diff.to_csv(out / f"{args.name}_difference.csv", index=False)
    head = (
        f"S.U.N. under two novelty yardsticks (`wylib.rediscovery`): novel against our train+val (the paper's "
        f"definition; the authors' model was trained on other MP-20 structures, so their figure is an upper bound) "
        f"and novel against every MP structure held here (train+val, MP-20 bi/ternary test, MPTS-52 val/test: the "
        f"hull's reference set), the same reference for both sets. A rediscovery is a unique, stable (E_hull <= "
        f"0.08 eV/atom on this project's hull) sample that is novel against train+val but matches a known "
        f"structure. Denominator: structures with an E_hull. Difference: bootstrap over both sets, Fisher's exact "
        f"test. ours = `{args.ours}`, theirs = `{args.theirs}`.\n\n"
        f"{platform.node()} ({platform.machine()}), {datetime.date.today()}, "
        f"`python -m studies.yardstick.sun_known --ours {args.ours} --theirs {args.theirs} --name {args.name}"
        f"{flag}`, "
        f"{(time.time() - t0) / 60:.1f} min.\n\n"
    )
    by_arity.to_csv(out / f"{args.name}_by_elements.csv", index=False)
    composition.write_composition_tables(by_class, out, args.name)
    body = "\n\n".join(t.to_markdown(index=False, floatfmt=".3g") for t in (table, diff))
    body += "\n\nBy number of distinct elements (structures with an E_hull):\n\n"
    body += by_arity.to_markdown(index=False, floatfmt=".3g")
    body += "\n\n" + composition.composition_report(by_class, ratio, ours.name, theirs.name)
    (out / f"{args.name}.md").write_text(head + body + "\n")
    print(head + body)


if __name__ == "__main__":
    main()
