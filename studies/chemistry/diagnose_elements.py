"""Why do generated samples get the number and kind of elements wrong? Measurements for one trained run.

Writes ``<out>.md`` (tables + diagnosis), ``<out>.csv`` (every table in long format: section, set, key, column,
value) and ``<figure>.pdf/.png``. No training; sampling and teacher-forced scoring only (studies.chemistry.diagnose).

    WYLIB_CACHE_DIR=/work/main/data/cache python -m studies.chemistry.diagnose_elements \\
        [--run-dir runs/default] [--dataset mp_20_biternary_open] [--n-samples 2000] [--n-t1 10000]

1. teacher-forced P(next element is new / a repeat / STOP) per step k and per number of distinct elements so far,
   model vs the data, on train and test sequences in seeded uniformly random site orders and on the model's own
   T = 1 samples (for those, teacher forcing gives exactly the distribution the free sampler drew from);
2. distinct elements and sites of free samples at several temperatures;
3. reasons and steps of the invalid samples;
4. element frequencies generated / train at T = 1;
5. STOP vs new element where the prefix already holds every element of the structure.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import shlex
import sys
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from studies.chemistry.diagnose import (
    cdf_gaps,
    count_elements,
    element_rows,
    frequency_ratios,
    leaked_elements,
    sample_table,
    shares,
    step_table,
)
from wylib import plots
from wylib.data import load_encoded, tokenize_split
from wylib.metrics import element_frequencies, elements_chi2, ks_statistic
from wylib.sample import REASON_CATEGORIES, sample, spacegroup_counts
from wylib.train import load_run
from wylib.vocab import draw_seed

K_CAP = 10  # steps k >= K_CAP are pooled in the per-step table


@dataclass
class Diagnosis:
    """What `main` measured and `report` writes up (the sections' tables, as `main` names them)."""

    rows: pd.DataFrame  # teacher-forced rows: train, test, own T = 1 samples
    by_k: pd.DataFrame
    by_d: pd.DataFrame
    by_dk: pd.DataFrame
    leak: dict[str, pd.DataFrame]
    full: pd.DataFrame
    dist: pd.DataFrame
    by_distinct: pd.DataFrame
    reasons: pd.DataFrame
    steps: pd.DataFrame
    cold_c: dict  # constrained cold decoding (main's cold_constrained)
    metrics_tab: pd.DataFrame
    ratios: pd.DataFrame
    gaps_t1: pd.DataFrame
    fig_paths: list[Path]
    n_train: int
    n_test: int
    n_elements: int


def teacher_forced(model, data, n_perm: int, seed: int, name: str):
    """Rows of n_perm seeded random site orders (+ equivalent representations) of an EncodedDataset."""
    rows, absent = [], 0.0
    for p in range(n_perm):
        E, S, C = data.permuted(torch.Generator().manual_seed(draw_seed(seed, p)))
        st = element_rows(model, data.spacegroup, E, S, C, data.n_sites)
        rows.append(st.rows.assign(set=name, perm=p))
        a = st.absent_mass
        absent = a if np.isscalar(absent) else _add_padded(absent, a)
    return pd.concat(rows, ignore_index=True), absent


def _add_padded(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    out = np.zeros((max(len(a), len(b)), a.shape[1]))
    out[: len(a)] += a
    out[: len(b)] += b
    return out


def long(section: str, df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """A table in long format: section, set (if a column), key (the ``keys`` joined), column, value."""
    d = df.copy()
    d["key"] = d[keys].astype(str).agg("|".join, axis=1) if keys else ""
    if "set" not in d:
        d["set"] = ""
    values = [c for c in d.columns if c not in keys + ["key", "set"]]
    m = d.melt(id_vars=["set", "key"], value_vars=values, var_name="column", value_name="value")
    return m.assign(section=section)[["section", "set", "key", "column", "value"]]


def md(df: pd.DataFrame, floatfmt: str = ".4f") -> str:
    return df.to_markdown(index=False, floatfmt=floatfmt)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run-dir", default="runs/default")
    ap.add_argument("--dataset", default="mp_20_biternary_open")
    ap.add_argument("--temperatures", type=float, nargs="+", default=[0.01, 0.5, 1.0, 2.0])
    ap.add_argument("--n-samples", type=int, default=2000, help="free samples per temperature")
    ap.add_argument("--n-t1", type=int, default=10000, help="free T=1 samples for element ratios and own-sample rows")
    ap.add_argument("--n-perm", type=int, default=3, help="random site orders per train/test structure")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="studies/chemistry/results/element_diagnosis")
    ap.add_argument("--figure", default="studies/chemistry/figures/element_diagnosis")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t_start = time.perf_counter()
    command = "python " + " ".join(shlex.quote(a) for a in sys.argv)
    host, date = platform.node(), datetime.datetime.now().strftime("%Y-%m-%d %H:%M")

    model, vocab, _ = load_run(args.run_dir, device="cpu")
    args.length = vocab.length
    train, _ = load_encoded(args.dataset, "train", vocab=vocab)
    test, _ = load_encoded(args.dataset, "test", vocab=vocab)
    train_reps = tokenize_split(args.dataset, "train").representations
    test_reps = tokenize_split(args.dataset, "test").representations
    sg_counts = spacegroup_counts(args.dataset)
    train_nel = np.array([r.n_elements for r in train_reps])
    test_nel = np.array([r.n_elements for r in test_reps])
    sections: list[pd.DataFrame] = []

    # 1. teacher-forced rows: train, test, own T = 1 samples
    rows_tr, abs_tr = teacher_forced(model, train, args.n_perm, args.seed, "train")
    rows_te, abs_te = teacher_forced(model, test, args.n_perm, args.seed + 1, "test")
    # every free draw: this model, space groups from train+val, seed --seed
    draw = partial(sample, model, vocab, spacegroup_distribution=sg_counts, seed=args.seed, progress=False)
    res1 = draw(args.n_t1, temperature=1.0, constrained=False)
    st_gen = element_rows(model, res1.spacegroup, res1.element, res1.site_symmetry, res1.enumeration, res1.n_sites)
    rows_gen = st_gen.rows.assign(set="generated T=1", perm=0)
    rows = pd.concat([rows_tr, rows_te, rows_gen], ignore_index=True)
    rows["k_pooled"] = rows.k.clip(upper=K_CAP)
    rows["all_present"] = rows.d_prefix == rows.d_total
    rows["at_end"] = rows.k == rows.n_sites
    by_k = step_table(rows, ["set", "k_pooled"])
    by_d = step_table(rows, ["set", "d_prefix"])
    by_dk = step_table(rows[rows.d_prefix == 3], ["set", "k_pooled"])
    sections += [
        long("by_step", by_k, ["k_pooled"]),
        long("by_distinct", by_d, ["d_prefix"]),
        long("by_step_at_3_distinct", by_dk, ["k_pooled"]),
    ]
    leak = {
        name: leaked_elements(a, 3, vocab.elements, top=10)
        for name, a in (("train", abs_tr), ("test", abs_te), ("generated T=1", st_gen.absent_mass))
    }
    for name, df in leak.items():
        sections.append(long("leak_at_3_distinct", df.assign(set=name), ["element"]))

    # 5. STOP vs new element where the prefix already has every element of the structure (data sets only)
    data_rows = rows[rows.set != "generated T=1"]
    full = step_table(data_rows, ["set", "all_present", "at_end"])
    sections.append(long("all_elements_present", full, ["all_present", "at_end"]))

    # 2. + 3. free samples per temperature (and the n_t1 samples at T = 1, labelled with their count)
    support_d, support_s = list(range(1, 7)), list(range(1, 21))
    dist_rows, reason_rows, step_rows, metric_rows, per_d = [], [], [], [], []
    ref_freq_test = element_frequencies([r.composition for r in test_reps])
    t1_label = f"1 (n={args.n_t1})"
    runs = [(f"{T:g}", draw(args.n_samples, temperature=T, constrained=False)) for T in args.temperatures]
    for label, res in runs + [(t1_label, res1)]:
        tab = sample_table(res.element, res.n_sites, res.reasons)
        valid_reps = [r for r in res.representations if r is not None]
        nel = np.array([r.n_elements for r in valid_reps])
        many = tab.n_distinct >= 4
        row = {
            "temperature": label,
            "n": len(tab),
            "validity": tab.valid.mean(),
            "mean_sites": tab.n_sites.clip(upper=vocab.length).mean(),
            "mean_sites_valid": tab.n_sites[tab.valid].mean(),
            "mean_distinct": tab.n_distinct.mean(),
            "share_4plus_distinct": float(many.mean()),
            "share_4plus_distinct_valid": float((nel >= 4).mean()) if len(nel) else np.nan,
            "invalid_share_4plus": float((~tab.valid[many]).mean()) if many.any() else np.nan,
            "invalid_share_2_3": float((~tab.valid[tab.n_distinct.between(2, 3)]).mean()),
        }
        row.update({f"distinct_{d}": s for d, s in zip(support_d, shares(tab.n_distinct, support_d), strict=True)})
        row.update({f"sites_{s}": v for s, v in zip(support_s, shares(tab.n_sites, support_s), strict=True)})
        row["sites_no_stop"] = float((tab.n_sites >= vocab.length).mean())
        dist_rows.append(row)
        g = tab.assign(no_stop=tab.n_sites >= vocab.length).groupby("n_distinct")
        per_d.append(
            pd.DataFrame(
                {
                    "temperature": label,
                    "n_distinct": g.size().index,
                    "share": g.size().values / len(tab),
                    "validity": g.valid.mean().values,
                    "no_stop": g.no_stop.mean().values,
                    "mean_sites": g.n_sites.mean().values,
                }
            )
        )
        le3 = [r for r in valid_reps if r.n_elements <= 3]
        for subset, reps in (("all valid", valid_reps), ("valid, <= 3 elements", le3)):
            metric_rows.append(
                {
                    "temperature": label,
                    "subset": subset,
                    "n": len(reps),
                    "elements_ks": ks_statistic([r.n_elements for r in reps], test_nel),
                    "elements_chi2": elements_chi2([r.composition for r in reps], ref_freq_test).value
                    if reps
                    else np.nan,
                }
            )
        inv = tab[~tab.valid]
        reason_rows.append(
            {
                "temperature": label,
                "n_invalid": len(inv),
                **{c: int((inv.reason == c).sum()) for c in REASON_CATEGORIES},
            }
        )
        if len(inv):
            ct = pd.crosstab(inv.reason, inv.step.fillna(-1).astype(int))
            for reason, r in ct.iterrows():
                step_rows.append({"temperature": label, "reason": reason, **{int(s): int(v) for s, v in r.items()}})
    t_cold = min(args.temperatures)
    res_c = draw(args.n_samples, temperature=t_cold, constrained=True)
    tab_c = sample_table(res_c.element, res_c.n_sites, res_c.reasons)
    at_max = tab_c.n_sites == vocab.max_sites
    cold_constrained = {
        "temperature": t_cold,
        "n": len(tab_c),
        "mean_sites": float(tab_c.n_sites.mean()),
        "share_max_sites": float(at_max.mean()),
        "share_1_distinct_at_max_sites": float((tab_c.n_distinct[at_max] == 1).mean()) if at_max.any() else np.nan,
        "mean_sites_below_max": float(tab_c.n_sites[~at_max].mean()) if (~at_max).any() else np.nan,
    }
    sections.append(long("cold_constrained", pd.DataFrame([cold_constrained]), ["temperature"]))
    gaps_t1 = cdf_gaps([r.n_elements for r in res1.representations if r is not None], test_nel)
    gaps_t1 = gaps_t1.rename(columns={"value": "n_elements"})
    ref = {
        "temperature": "train",
        "n": len(train_nel),
        "validity": 1.0,
        "mean_sites": float(train.n_sites.float().mean()),
        "mean_sites_valid": float(train.n_sites.float().mean()),
        "mean_distinct": float(train_nel.mean()),
        "share_4plus_distinct": float((train_nel >= 4).mean()),
        "share_4plus_distinct_valid": float((train_nel >= 4).mean()),
    }
    ref.update({f"distinct_{d}": s for d, s in zip(support_d, shares(train_nel, support_d), strict=True)})
    ref.update({f"sites_{s}": v for s, v in zip(support_s, shares(train.n_sites.numpy(), support_s), strict=True)})
    dist = pd.DataFrame(dist_rows + [ref])
    reasons = pd.DataFrame(reason_rows)
    steps = pd.DataFrame(step_rows).fillna(0)
    if len(steps):
        cols = sorted(c for c in steps.columns if isinstance(c, int))
        steps = steps[["temperature", "reason"] + cols]
        steps.columns = ["temperature", "reason"] + [("unparsed" if c < 0 else f"step {c}") for c in cols]
    metrics_tab = pd.DataFrame(metric_rows)
    by_distinct = pd.concat(per_d, ignore_index=True)
    sections.append(long("samples_by_distinct", by_distinct, ["temperature", "n_distinct"]))
    sections += [
        long("samples_by_temperature", dist, ["temperature"]),
        long("invalid_reasons", reasons, ["temperature"]),
        long("invalid_by_step", steps, ["temperature", "reason"]) if len(steps) else pd.DataFrame(),
        long("elements_metrics_vs_test", metrics_tab, ["temperature", "subset"]),
    ]

    # 4. element frequencies at T = 1 (n_t1 samples): atomic fractions per structure, as the chi2 metric
    valid1 = [r for r in res1.representations if r is not None]
    f_gen = element_frequencies([r.composition for r in valid1])
    f_gen3 = element_frequencies([r.composition for r in valid1 if r.n_elements <= 3])
    f_train = element_frequencies([r.composition for r in train_reps])
    ratios = frequency_ratios(f_gen, f_train, min_share=0.002)
    ratios3 = frequency_ratios(f_gen3, f_train, min_share=0.002).set_index("element")
    ratios["ratio_le3_elements"] = ratios.element.map(ratios3.ratio)
    ratios["ratio_vs_test"] = ratios.element.map(
        frequency_ratios(f_gen, ref_freq_test, min_share=0.0).set_index("element").ratio
    )
    new_tokens = count_elements(res1.element, res1.n_sites, vocab.elements, keep=res1.valid)
    fourth = _fourth_element_counts(res1, vocab.elements)
    tot4 = sum(fourth.values())
    ratios["share_of_4th_elements"] = ratios.element.map(lambda e: fourth.get(e, 0) / tot4 if tot4 else np.nan)
    ratios["share_of_site_tokens"] = ratios.element.map(lambda e: new_tokens.get(e, 0) / sum(new_tokens.values()))
    sections.append(long("element_ratios_t1", ratios, ["element"]))
    sections.append(long("cdf_gaps_t1_vs_test", gaps_t1, ["n_elements"]))

    # the figure
    fig, ax = plt.subplots(2, 2, figsize=(11, 7.5))
    for name, style in (("train", "o-"), ("test", "s--"), ("generated T=1", "^:")):
        t = by_k[by_k.set == name]
        ax[0, 0].plot(t.k_pooled, t.model_new, style, ms=4, label=f"{name}: model")
        ax[0, 0].plot(t.k_pooled, t.data_new, style, ms=4, alpha=0.4, label=f"{name}: next token")
    ax[0, 0].set(
        xlabel=f"sites already emitted k (>= {K_CAP} pooled)",
        ylabel="P(next element is new)",
        title="new element per step",
    )
    ax[0, 0].legend(fontsize=6)
    width = 0.25
    for i, name in enumerate(("train", "test", "generated T=1")):
        t = by_d[(by_d.set == name) & (by_d.d_prefix >= 1)]
        ax[0, 1].bar(t.d_prefix + (i - 1) * width, t.model_new, width, label=f"{name}: model")
        ax[0, 1].scatter(
            t.d_prefix + (i - 1) * width, t.data_new, color="k", s=12, zorder=3, label="next token" if i == 0 else None
        )
        for x, y in zip(t.d_prefix[t.d_prefix == 3] + (i - 1) * width, t.model_new[t.d_prefix == 3], strict=True):
            ax[0, 1].annotate(f"{y:.3f}", (x, y), ha="center", va="bottom", fontsize=7)
    ax[0, 1].text(3, 0.012, "data: 0", ha="center", fontsize=8)
    ax[0, 1].set_yscale("log")
    ax[0, 1].set(xlabel="distinct elements so far", ylabel="P(next element is new)", title="new element by distinct")
    ax[0, 1].legend(fontsize=6)
    w = 0.8 / (len(args.temperatures) + 1)
    bars = dist[dist.temperature != t1_label]
    for i, r in enumerate(bars.itertuples()):
        vals = [getattr(r, f"distinct_{d}") for d in support_d]
        ax[1, 0].bar(
            np.array(support_d) + (i - len(bars) / 2) * w,
            100 * np.asarray(vals),
            w,
            label=f"T={r.temperature}" if r.temperature != "train" else "train",
        )
    ax[1, 0].set(xlabel="distinct elements per sample (all samples)", ylabel="share, %", title="distinct elements")
    ax[1, 0].legend(fontsize=7)
    top = pd.concat([ratios.head(8), ratios.tail(8)])
    ax[1, 1].barh(top.element, np.log2(top.ratio.clip(lower=1 / 64)), color=["C3"] * 8 + ["C0"] * 8)
    ax[1, 1].invert_yaxis()
    ax[1, 1].set(xlabel="log2(generated / train), atomic fractions, T=1", title="element frequency ratios")
    fig.suptitle(f"{args.run_dir} on {args.dataset}: element diagnosis ({host}, {date})", fontsize=10)
    fig.tight_layout()
    fig_paths = plots.save_figure(fig, Path(args.figure).name, Path(args.figure).parent)

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    pd.concat([s for s in sections if len(s)], ignore_index=True).to_csv(out.with_suffix(".csv"), index=False)
    wall = time.perf_counter() - t_start
    found = Diagnosis(
        rows=rows,
        by_k=by_k,
        by_d=by_d,
        by_dk=by_dk,
        leak=leak,
        full=full,
        dist=dist,
        by_distinct=by_distinct,
        reasons=reasons,
        steps=steps,
        cold_c=cold_constrained,
        metrics_tab=metrics_tab,
        ratios=ratios,
        gaps_t1=gaps_t1,
        fig_paths=fig_paths,
        n_train=len(train),
        n_test=len(test),
        n_elements=len(vocab.elements),
    )
    text = report(args, command, host, date, wall, found)
    out.with_suffix(".md").write_text(text)
    print(
        f"wrote {out.with_suffix('.md')}, {out.with_suffix('.csv')}, {', '.join(map(str, fig_paths))} in {wall:.0f} s"
    )


def _fourth_element_counts(res, elements) -> dict[str, int]:
    """Which element is introduced as the 4th distinct one, over the samples that have one (before STOP)."""
    from collections import Counter

    out: Counter = Counter()
    for i in range(len(res)):
        seen: list[int] = []
        for t in res.element[i, : int(res.n_sites[i])].tolist():
            if t >= 3 and t not in seen:
                seen.append(t)
                if len(seen) == 4:
                    out[elements[t - 3]] += 1
                    break
    return dict(out)


def _pick(tab: pd.DataFrame, **where) -> pd.Series:
    m = np.ones(len(tab), bool)
    for k, v in where.items():
        m &= (tab[k] == v).to_numpy()
    if m.sum() != 1:
        raise KeyError(f"{where}: {int(m.sum())} rows")
    return tab[m].iloc[0]


def report(args, command: str, host: str, date: str, wall: float, d: Diagnosis) -> str:
    L = args.length
    cols_main = [
        "n_rows",
        "data_new",
        "target_new",
        "model_new",
        "data_repeat",
        "model_repeat",
        "data_stop",
        "model_stop",
        "model_service",
        "argmax_new",
        "argmax_stop",
    ]
    d3 = {s: _pick(d.by_d, set=s, d_prefix=3) for s in ("train", "test", "generated T=1")}
    d2 = {s: _pick(d.by_d, set=s, d_prefix=2) for s in ("train", "test", "generated T=1")}
    t1_label = f"1 (n={args.n_t1})"
    t1 = _pick(d.dist, temperature=t1_label)
    tr = _pick(d.dist, temperature="train")
    end_tr = _pick(d.full, set="train", all_present=True, at_end=True)
    m_all = _pick(d.metrics_tab, temperature=t1_label, subset="all valid")
    m_le3 = _pick(d.metrics_tab, temperature=t1_label, subset="valid, <= 3 elements")
    gen_rows = d.rows[d.rows.set == "generated T=1"]
    per_sample = gen_rows[gen_rows.d_prefix == 3].groupby("structure").p_new.apply(lambda p: 1 - np.prod(1 - p))
    d1 = {s_: _pick(d.by_d, set=s_, d_prefix=1) for s_ in ("train", "test")}
    cold = d.by_distinct[d.by_distinct.temperature == f"{min(args.temperatures):g}"]
    one = cold[cold.n_distinct == 1]
    one_share = float(one.share.sum()) if len(one) else 0.0
    one_nostop = float(one.no_stop.iloc[0]) if len(one) else float("nan")
    ratio_shift = float(np.nanmedian(np.abs(np.log2(d.ratios.ratio / d.ratios.ratio_le3_elements))))
    chi2_change = (m_all.elements_chi2 - m_le3.elements_chi2) / m_all.elements_chi2
    chi2_text = (
        f"the 4+ element samples carry {chi2_change:.0%} of the elements chi2; the rest is the composition "
        "of the 2-3-element samples themselves."
        if chi2_change > 0
        else "the elements chi2 does not come from the 4+ element samples but from the composition of the "
        "2-3-element samples themselves."
    )
    rel = d3["test"].model_new / d3["train"].model_new
    leak_kind = "The leak is not overfitting" if rel < 1.5 else "The leak grows off the training set"
    data_text = (
        "the 4th-element leak is about as large on training rows as on test rows, so more data of the "
        "same kind is not expected to remove it by itself."
        if rel < 1.5
        else "the leak is larger on test than on training rows, so more data should reduce part of it."
    )
    inv1 = _pick(d.reasons, temperature=t1_label)
    counts = inv1[list(REASON_CATEGORIES)].astype(int)
    top_reason = str(counts.idxmax()) if counts.sum() else "none"
    st1 = d.steps[d.steps.temperature == t1_label] if len(d.steps) else d.steps
    early_cols = [c for c in ("step 0", "step 1", "step 2") if c in st1]
    early = float(st1[early_cols].to_numpy().sum() / max(counts.sum(), 1)) if len(st1) else 0.0
    cg = d.gaps_t1.set_index("n_elements")
    c = lambda col, v: float(cg[col].get(v, 0.0 if v < cg.index.min() else 1.0))  # noqa: E731
    binary = lambda col: (c(col, 2) - c(col, 1)) / max(c(col, 3) - c(col, 1), 1e-12)  # noqa: E731
    bin_gen, bin_test = binary("cdf_generated"), binary("cdf_reference")
    over = d.ratios.head(6)
    under = d.ratios[d.ratios.share_reference >= 0.005].tail(6).iloc[::-1]
    fmt = lambda r: ", ".join(f"{e} {x:.2f}" for e, x in zip(r.element, r.ratio, strict=True))  # noqa: E731
    greedy_end = end_tr.argmax_stop
    sites_cold = _pick(d.dist, temperature=f"{min(args.temperatures):g}")
    lines = [
        "# Element statistics of generated samples: diagnosis",
        "",
        f"Host `{host}`, {date}, {wall:.0f} s wall, {args.threads} torch thread(s). Command (repository root, "
        f"`WYLIB_CACHE_DIR` pointing at the token cache):",
        "",
        f"    {command}",
        "",
        f"Model `{args.run_dir}`, data `{args.dataset}` ({d.n_train} train / {d.n_test} test structures, tokenized "
        f"splits of wylib.data). Free sampling (the paper's way), space groups from train+val, seed {args.seed}. "
        f"Teacher-forced rows: every position k = 0..n of {args.n_perm} seeded uniformly random site orders (with a "
        f"random equivalent representation) per train and test structure, and of {args.n_t1} own free samples at "
        "T = 1. For the own samples teacher forcing gives exactly the distribution the free sampler drew from "
        "(same prefix, same cascade step; `tests/test_diagnose.py` checks it against the sampler's log-probs), so "
        "these rows are the sampler's per-step distributions along its own trajectories.",
        "",
        "Columns: `data_*` share of rows whose next element token is new (not in the prefix) / a repeat / STOP; "
        "`target_*` mean training target (normalised histogram of the not-yet-emitted elements, summed per "
        "category; its expectation equals `data_*`); `model_*` mean model probability at T = 1; `model_service` "
        "PAD/MASK; `argmax_*` share of rows whose single most likely element token is new / STOP (what T -> 0 "
        "emits). For the generated rows `data_*` is what the sampler actually drew.",
        "",
        f"Figure: `{d.fig_paths[0]}` / `.png`. All tables are also in `{Path(args.out).with_suffix('.csv')}` "
        "(long format: section, set, key, column, value).",
        "",
        "## 1. New element per step and per number of distinct elements so far",
        "",
        "### By distinct elements already in the sequence",
        "",
        md(d.by_d[["set", "d_prefix"] + cols_main]),
        "",
        f"### By step k (k >= {K_CAP} pooled)",
        "",
        md(d.by_k[["set", "k_pooled"] + cols_main]),
        "",
        "### Rows with 3 distinct elements already present, by step",
        "",
        md(d.by_dk[["set", "k_pooled", "n_rows", "data_new", "model_new", "data_stop", "model_stop"]]),
        "",
        "### Which elements take the mass on a 4th element (rows with 3 distinct, top 10)",
        "",
        md(pd.concat([df.assign(set=name) for name, df in d.leak.items()])[["set", "element", "mass", "share"]], ".3f"),
        "",
        "## 2. Distinct elements and sites of free samples, by temperature",
        "",
        f"{args.n_samples} free samples per temperature, seed {args.seed}; shares over all samples (distinct elements "
        "counted among the element tokens before STOP, sites = STOP position; `sites_no_stop`: no STOP within "
        f"max_sites); last row the training split.",
        "",
        md(
            d.dist[
                [
                    "temperature",
                    "n",
                    "validity",
                    "mean_sites",
                    "mean_sites_valid",
                    "mean_distinct",
                    "share_4plus_distinct",
                    "share_4plus_distinct_valid",
                    "invalid_share_2_3",
                    "invalid_share_4plus",
                ]
                + [f"distinct_{d}" for d in range(1, 7)]
            ],
            ".3f",
        ),
        "",
        md(d.dist[["temperature"] + [f"sites_{s}" for s in range(1, 21)] + ["sites_no_stop"]], ".3f"),
        "",
        "Per number of distinct elements (share of the samples, their validity, share without STOP, mean sites):",
        "",
        md(d.by_distinct, ".3f"),
        "",
        "Elements KS and chi2 (paper-style) of the valid samples against the test split (no uniqueness/novelty "
        "filter, so close to but not identical with Table 1), for all valid samples and for those with at most 3 "
        "elements (rejection: what dropping the samples with 4+ elements would give):",
        "",
        md(d.metrics_tab, ".4f"),
        "",
        f"CDF of distinct elements, valid T = 1 samples ({args.n_t1}) vs test (the largest |gap| is the elements KS):",
        "",
        md(d.gaps_t1, ".4f"),
        "",
        "## 3. Where invalid samples fail",
        "",
        md(d.reasons, ".0f"),
        "",
        f"By the site index the reason names (`step k`: the (k+1)-th site; `step {L}`: no STOP within the {L} "
        "positions):",
        "",
        md(d.steps, ".0f") if len(d.steps) else "(no invalid samples)",
        "",
        f"## 4. Element frequencies generated / train, T = 1 ({args.n_t1} samples, valid ones)",
        "",
        "Atomic fractions summed per structure (the weighting of the elements chi2); elements with a train share "
        "below 0.2 % omitted. `ratio_le3_elements`: the same for the valid samples with at most 3 elements; "
        "`share_of_4th_elements`: share of this element among the 4th distinct elements introduced by the "
        "samples that have one.",
        "",
        md(pd.concat([d.ratios.head(12), d.ratios.tail(12)]), ".4f"),
        "",
        "## 5. STOP vs a new element when every element of the structure is already present",
        "",
        "Data rows split by whether the prefix already holds all elements of the structure (`all_present`) and "
        "whether the sequence ends here (`at_end`: the next token is STOP).",
        "",
        md(d.full[["set", "all_present", "at_end"] + cols_main]),
        "",
        "## Diagnosis",
        "",
        f"- **The model leaks mass to a 4th element.** With 3 distinct elements already emitted it gives a new "
        f"element {d3['train'].model_new:.3f} on training sequences, {d3['test'].model_new:.3f} on test sequences "
        f"and {d3['generated T=1'].model_new:.3f} along its own samples, where the data have exactly "
        f"{d3['train'].data_new:.0f} (training target {d3['train'].target_new:.0f}). Per sample this compounds over "
        f"the steps taken with 3 elements: the mean over own samples of 1 - prod(1 - P(new)) over those steps is "
        f"{per_sample.sum() / args.n_t1:.3f}, and {t1.share_4plus_distinct:.3f} of the T = 1 samples "
        f"({t1.share_4plus_distinct_valid:.3f} of the valid ones) have 4 or more distinct elements (train: "
        f"{tr.share_4plus_distinct:.3f}). The leak is spread over many elements (the largest single share is "
        f"{d.leak['train'].share.iloc[0]:.1%} on training rows, {d.leak['train'].share.iloc[:10].sum():.0%} "
        f"for the top "
        f"10): it is residual mass of the {d.n_elements}-way element softmax, not a preference for one wrong element.",
        f"- **{leak_kind}**: P(new | 3 distinct) is {d3['test'].model_new / d3['train'].model_new:.2f} times as large "
        f"on test rows as on training rows. The model is otherwise calibrated by category on training rows (P(STOP "
        f"| 3 distinct) {d3['train'].model_stop:.3f} vs {d3['train'].data_stop:.3f} in the data, P(STOP | 2) "
        f"{d2['train'].model_stop:.3f} vs {d2['train'].data_stop:.3f}), except that at 2 distinct it gives a new "
        f"element {d2['train'].model_new:.3f} vs {d2['train'].data_new:.3f} and a repeat "
        f"{d2['train'].model_repeat:.3f} "
        f"vs {d2['train'].data_repeat:.3f}. The objective's target is exactly zero on new elements at 3 distinct; "
        'what the model does not learn is the hard rule "never a 4th element" from the presence vector and the '
        "encoder (at this model size, data size and regularisation).",
        f"- **Element statistics** (T = 1, {args.n_t1} samples): over-represented (generated / train) {fmt(over)}; "
        f"under-represented {fmt(under)}. Rejecting the valid samples with 4+ elements moves elements KS from "
        f"{m_all.elements_ks:.3f} to {m_le3.elements_ks:.3f} and elements chi2 from {m_all.elements_chi2:.4f} to "
        f"{m_le3.elements_chi2:.4f} (against the test split). What keeps the KS above zero after the rejection: "
        "binaries are "
        f"{bin_gen:.3f} of the valid 2-3-element samples against {bin_test:.3f} of the test split, in line with the "
        "under-predicted new element at 2 distinct (previous point). The per-element ratios barely move without "
        "the 4+ "
        f"element samples (median |log2 ratio change| {ratio_shift:.3f}): {chi2_text}",
        f"- **Greedy decoding and STOP**: the argmax of the element step is a single token, while the 'new element' "
        f"mass is split over ~{d.n_elements} tokens. At 1 distinct element the most likely token is a repeat in "
        f"{1 - d1['train'].argmax_new:.2f} of the training rows although a new element is the next token in "
        f"{d1['train'].data_new:.2f}; on such one-element prefixes STOP gets {d1['train'].model_stop:.4f} (no training "
        f"structure has a single element), so a near-greedy sequence that repeats its first element keeps repeating "
        f"it. At T = {min(args.temperatures):g}: {one_share:.2f} of the samples have one element, "
        f"{one_nostop:.2f} of those never emit STOP (invalid: `no STOP within max length`; the valid ones have "
        f"{sites_cold.mean_sites_valid:.2f} sites on average, train {tr.mean_sites:.2f}). With grammar-constrained "
        f"decoding (STOP forced at max_sites, as for Table 2's T = 0.01 row) {d.cold_c['share_max_sites']:.2f} of "
        f"{d.cold_c['n']} samples run to {args.length - 1} sites, "
        f"{d.cold_c['share_1_distinct_at_max_sites']:.2f} of those "
        f"with a single element; the others have {d.cold_c['mean_sites_below_max']:.2f} sites: this is where the "
        f"mean of {d.cold_c['mean_sites']:.2f} sites comes from. Where the data sequence "
        f"really ends with every element present, STOP is the most likely token in {greedy_end:.2f} of training "
        f"rows (P(STOP) {end_tr.model_stop:.3f}). So the long, poor cold samples are a property of mode-seeking "
        "decoding of the cascade (repeat beats any one new element), not a miscalibrated STOP.",
        f"- **Invalid samples** at T = 1 ({args.n_t1} samples): {int(inv1.n_invalid)} invalid; most common reason "
        f"`{top_reason}`; {early:.0%} of the invalid ones fail at one of the first 3 sites. Samples with 4+ elements "
        f"are invalid in {t1.invalid_share_4plus:.3f} of cases against {t1.invalid_share_2_3:.3f} for 2-3 elements.",
        "",
        "Fixes these numbers point to, in order of cost:",
        "",
        "1. **Sampler constraint** on the number of distinct elements (mask every absent element once the sequence "
        "holds the data's maximum, 3 here; optional, off by default, like the grammar constraint): removes the 4+ "
        "element samples by construction; the rejection rows above show what it can give for elements KS and chi2 "
        "(masking renormalises step by step, so it is close to, not identical with, rejection).",
        "2. **Element objective / head**: the soft target already puts zero mass on a 4th element; what is missing "
        "is a sharp rule. Options: give the element head the count of distinct elements so far (one-hot) next to "
        "the presence vector; or factor the element step into a category (new / repeat / STOP) followed by the "
        'element within the category, so that "no new element at 3" is one logit, not '
        f"{d.n_elements}, and the argmax compares categories rather than single tokens.",
        f"3. **More data**: {data_text} The element-frequency skew that remains without the 4+ element samples "
        "is the part data size should move; the learning-curve sweep below measures it.",
        "",
        "## Learning-curve sweep (for a later session)",
        "",
        "Notebook 02 has `max_structures`, but it is not a learning-curve parameter: `train_dataset` passes it to "
        "every split (train, val and test are cut to their first N rows, and the vocabulary is built from the "
        "cut training split), so models would be scored on different validation/test sets. What needs adding: a "
        "parameter `train_fraction` (notebook 02 -> `wylib.train.train_dataset`) that keeps a seeded random "
        "subset of the *encoded training split only* (vocabulary from the full training split; val and test "
        "untouched) and records the fraction in `config.json`. Then, from the repository root:",
        "",
        "```bash",
        "for f in 0.25 0.5 1.0; do",
        "  .venv/bin/papermill notebooks/02_training.ipynb output/lc/f$f/02_training.ipynb -p train_fraction $f \\",
        "      -p max_epochs 80 -p patience 4 -p num_threads 1 -p out_dir output/lc/f$f",
        "done",
        "for f in 0.25 0.5 1.0; do",
        "  .venv/bin/python -m wylib.sweep --grid temperature=1.0 --set run_dir=output/lc/f$f/model n_samples=10000 \\",
        "      n_relax=0 --out output/lc/f$f/sweep",
        "  .venv/bin/python -m studies.chemistry.diagnose_elements --run-dir output/lc/f$f/model \\",
        "      --out output/lc/f$f/element_diagnosis \\",
        "      --figure output/lc/f$f/element_diagnosis",
        "done",
        "```",
        "",
        "(`-p max_epochs 80 -p patience 4 -p num_threads 1` are the `paper` profile's notebook-02 settings that "
        "produced `runs/default`; `train_fraction 1.0` reproduces it.)",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
