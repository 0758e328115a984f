"""Write the README's headline block and the full results page from the published paper run.

    python -m tools.update_readme            # reads results/paper, figures/paper, notebooks/paper/run.json

The README block (between ``<!-- headline:start -->`` and ``<!-- headline:end -->``) holds the headline table (ours;
the authors' genes through our build and relaxation; their relaxed set; the paper as published, labelled with its
own hull and protocol), one figure and a caption naming the run's machine and date. ``docs/results.md`` is the whole
page: stage timings, the same-yardstick comparison, Table 1 and Table 2 in full, the permutation KL, the figures.
Every number comes from the files; nothing is typed in by hand.
"""

from __future__ import annotations

import argparse
import json
import textwrap
from pathlib import Path

import pandas as pd
import yaml

from wylib.evaluate import METRIC_NAMES, ROW_LABELS
from wylib.paper import table2 as paper_table2
from wylib.report import format_ci

REPO = Path(__file__).resolve().parent.parent
START, END = "<!-- headline:start -->", "<!-- headline:end -->"

# (row id of wylib.evaluate, label in the headline table)
HEADLINE_ROWS = [
    ("ours", "**WyckoffTransformer, this repo** (our protocol, our hull)"),
    ("ours_seeds", "the same model, mean [min, max] over the sampling seeds (Wyckoff level)"),
    ("authors_our_protocol", "authors' released genes, 2-3 el., through our build + relaxation"),
    ("authors_relaxed", "authors' released relaxed set, 2-3 el. (their protocol, our hull)"),
    ("paper_wyformer", "paper as published (their data; **their hull and protocol**)"),
]
LEGACY_LABELS = {"WyckoffTransformer (paper, published)": "paper_wyformer"}  # tables written before the id column
HEADLINE_METRICS = [
    "validity",
    "novelty",
    "sun_paper",
    "charge_neutrality",
    "sites_ks",
    "elements_ks",
    "dof_ks",
]  # the chi2 columns are in docs/results.md


def by_id(t: pd.DataFrame) -> pd.DataFrame:
    """Table 1 indexed by row id (the ``id`` column; for older tables, the id of each known label)."""
    if "id" in t.columns:
        return t.set_index("id")
    ids = {label: i for i, label in ROW_LABELS.items()} | LEGACY_LABELS
    return t.assign(id=t["row"].map(ids)).dropna(subset=["id"]).set_index("id")


def run_info(root: Path) -> dict:
    """What the tables rest on: the published run's summary (``notebooks/paper/run.json``, written by the pipeline
    with the executed notebooks: stages, machine, date, parameters), or, for tables published before the pipeline
    wrote one, the host and date recorded in ``results/paper/permutation_kl.json`` and the parameters of the
    ``paper`` profile (``stages`` is then None)."""
    path = root / "notebooks" / "paper" / "run.json"
    if path.exists():
        info = json.loads(path.read_text())
        stages = info["stages"]
        m = next(iter(stages.values()))["machine"]
        return dict(
            day=max(s["finished"] for s in stages.values())[:10],
            machine=f"{m['cpu']}, {m['cores']} cores, torch {m['torch']} ({m['torch_cpu_capability']})",
            generation=stages.get("04_generation", {}).get("parameters", {}),
            stages=stages,
        )
    kl = root / "results" / "paper" / "permutation_kl.json"
    if not kl.exists():
        raise SystemExit(f"neither {path} nor {kl}: publish a paper run first (bash run_all.sh --profile paper)")
    recorded = json.loads(kl.read_text())
    profile = yaml.safe_load((root / "notebooks" / "profiles.yml").read_text())["paper"]
    return dict(
        day=recorded["date"][:10],
        machine=f"host `{recorded['host']}`, {recorded['nproc']} cores (no run summary published with these tables)",
        generation=profile.get("04", {}),
        stages=None,
    )


def _size(t: pd.DataFrame, row: str) -> str:
    n, s = t.at[row, "n_samples"], t.at[row, "n_structures"]
    if pd.isna(n):
        return "–"
    return f"{int(n):,}" + (f" / {int(s):,}" if pd.notna(s) and s > 0 else "")


def headline_table(t: pd.DataFrame) -> str:
    rows = [(i, label) for i, label in HEADLINE_ROWS if i in t.index]
    head = ["set", "samples / relaxed"] + [METRIC_NAMES[k].split(" (")[0] for k in HEADLINE_METRICS]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for r, label in rows:
        cells = [format_ci(t.at[r, k], t.at[r, f"{k}_low"], t.at[r, f"{k}_high"], k) for k in HEADLINE_METRICS]
        size = _size(t, r)
        lines.append(f"| {label} | {size} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def notebooks_line(info: dict, prefix: str = "") -> str:
    if info["stages"] is not None:
        return f"The executed notebooks of this run, with every output: [`notebooks/paper/`]({prefix}notebooks/paper)."
    return (
        "The executed notebooks of these tables were not published (the pipeline publishes them since this layout); "
        "the next `paper` run writes them to `notebooks/paper/`."
    )


def headline(t: pd.DataFrame, info: dict) -> str:
    day, machine, gen = info["day"], info["machine"], info["generation"]
    if "ours_seeds" in t.index:
        seeds = f"""one training seed; {gen.get("n_sampling_seeds")} sampling seeds: the first row is seed
{gen.get("seed", 0)} with bootstrap 95 % intervals over its samples, the second the mean with the [min, max] over
the seeds"""
    else:
        seeds = """one training seed and one sampling seed (0), with bootstrap 95 % intervals over the samples
(they do not include the spread over seeds)"""
    caption = f"""Results of `bash run_all.sh --profile paper` on `mp_20_biternary_open` (MP-20, binary and ternary),
run {day} on {machine}; {seeds}. The rows of this repo and the authors' use the same metric code, test split,
train+val and CHGNet hull; the first two also the same pyXtal build and relaxation ({gen.get("trials")} trials
per sample, lowest energy kept). S.U.N. rests on the relaxed structures ({gen.get("n_relax")} per model here, so
its interval is wide); the KS statistics grow as a set shrinks, so rows of different size (second column) are
not comparable on them: the same statistics at one size are in `results/paper/table1_equal_size.md` when the run
wrote it. The paper's row comes from its own data, hull and protocol and is not comparable on S.U.N.
Full table: [docs/results.md](docs/results.md). {notebooks_line(info)}"""
    return f"""{START}
{textwrap.fill(" ".join(caption.split()), width=118, break_on_hyphens=False)}

{headline_table(t)}

![E_hull of novel samples: ours beside the authors' samples on the same hull](figures/paper/fig10_ehull_novel.png)
{END}"""


def stage_table(info: dict) -> str:
    if info["stages"] is None:
        return "Not published with these tables (see [reproducibility.md](reproducibility.md) for timed runs)."
    lines = ["| stage | wall time, min | peak RSS, MiB (kernel + workers) | finished |", "| --- | --- | --- | --- |"]
    for name, s in info["stages"].items():
        lines.append(f"| `{name}` | {s['seconds'] / 60:.1f} | {s.get('peak_rss_mib', '–')} | {s['finished']} |")
    total = sum(s["seconds"] for s in info["stages"].values()) / 60
    peak = max((s["peak_rss_mib"] for s in info["stages"].values() if "peak_rss_mib" in s), default="–")
    return "\n".join(lines) + f"\n| total | {total:.1f} | max {peak} | |"


def results_page(t: pd.DataFrame, info: dict, root: Path) -> str:
    day, machine = info["day"], info["machine"]
    results, figures = root / "results" / "paper", root / "figures" / "paper"
    kl = json.loads((results / "permutation_kl.json").read_text())
    free = kl["kl"]["free, valid (paper's way)"]
    sections = [
        "# Results of the paper run",
        f"Generated by `python -m tools.update_readme` from `results/paper/` (run {day} on {machine}, "
        f"`bash run_all.sh --profile paper`). {notebooks_line(info, '../')}",
        "## Stages\n\n" + stage_table(info),
        "## Ours beside the authors' samples, same code and hull\n\n" + headline_table(t),
    ]
    for name in ("sun_difference.md", "sun_known.md"):
        if (results / name).exists():
            sections.append((results / name).read_text().strip())
    sections += [
        "## Table 1 in full (`results/paper/table1.md`)\n\n" + (results / "table1.md").read_text().strip(),
        "## Table 2 (`results/paper/table2.md`)\n\n" + (results / "table2.md").read_text().strip(),
        "The paper's Table 2 (its MP-20 model, **their training and scoring**; why its test and train rows are not "
        "comparable with ours: [studies/yardstick](../studies/yardstick/README.md)):\n\n"
        + paper_table2().to_markdown(index=False, floatfmt=".1f"),
        "## Permutation invariance (Appendix D)\n\n"
        f"KL between the likelihood of a generated sequence and of its permutations ({free['n_sequences']} valid "
        f"free samples, {free['n_permutations']} permutations each): **{free['kl']:.2f} nats "
        f"[{free['kl_low']:.2f}, {free['kl_high']:.2f}]**, entropy **{free['entropy']:.1f} nats "
        f"[{free['entropy_low']:.1f}, {free['entropy_high']:.1f}]** (paper, their model: KL {kl['paper']['kl']}, "
        f"H {kl['paper']['entropy']}).",
        "## Figures\n\n" + "\n".join(f"![{p.stem}](../figures/paper/{p.name})" for p in sorted(figures.glob("*.png"))),
    ]
    return "\n\n".join(sections) + "\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", type=Path, default=REPO, help="repository root (default: this checkout)")
    root = ap.parse_args(argv).root
    info = run_info(root)
    t = by_id(pd.read_csv(root / "results" / "paper" / "table1.csv"))
    readme = (root / "README.md").read_text()
    if START not in readme or END not in readme:
        raise SystemExit(f"README.md has no {START} ... {END} block")
    readme = readme[: readme.index(START)] + headline(t, info) + readme[readme.index(END) + len(END) :]
    (root / "README.md").write_text(readme)
    (root / "docs" / "results.md").write_text(results_page(t, info, root))
    print(f"{root / 'README.md'} headline and {root / 'docs' / 'results.md'} written from results/paper")


if __name__ == "__main__":
    main()
