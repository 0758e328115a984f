"""Why near-greedy samples (T = 0.01) of the default model never emit STOP, and a sampler under which they stop.

    WYLIB_DATA_DIR=../shared/data .venv/bin/python -m studies.chemistry.greedy_stop \\
        [--run-dir runs/default] [--n 2000] [--seed 0] [--cold 0.01] [--name greedy_stop]

1. ``--n`` free samples per sampler (space groups from train+val, ``--seed``, unconstrained, CPU), figures over
   *all* samples: share without STOP (such a sample fills all L = max_sites + 1 positions and its stop position
   counts as L), mean stop position, formal validity, mean sites and sites KS of the valid ones against the test
   split, share of ternaries among the valid ones.
2. The cause: the model's element distribution at T = 1, teacher-forced along the plain cold samples' own paths
   (with the arity each one drew, recovered from the seed) and along the test structures (one seeded random site
   order, their own arity): P(STOP), the summed P(new element) and P(repeat), the largest single token, per row.
3. Samplers that change only how the element step is drawn (`kind_sampler`, no edit of `wylib`): the *kind* of the
   next element token (STOP / an element new to the sequence / a repeat; PAD and MASK a fourth kind) is drawn from
   the model's summed probabilities at ``kind_temperature``, the token within its kind at ``temperature``
   (`kind_logprobs`); ``split="stop"`` has two kinds only (STOP / anything else). Optionally the arity is drawn at
   ``kind_temperature`` too. At kind_temperature = temperature = 1 this is the model's own distribution (chain
   rule), and the Gumbel draw uses the same noise, so the samples are those of `wylib.sample.sample`.

Writes ``studies/chemistry/results/<name>.md`` and ``.csv`` (long format: section, row, column, value) and
``studies/chemistry/figures/<name>.pdf/.png``.
"""

from __future__ import annotations

import argparse
import time
from contextlib import contextmanager
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from studies.chemistry.diagnose import prefix_presence
from studies.provenance import command_line, host_stamp
from wylib import plots
from wylib.data import load_encoded
from wylib.machine import cpu_model
from wylib.metrics import ks_statistic
from wylib.model import STOP, WyckoffTransformer
from wylib.sample import SampleResult, _draw, sample, spacegroup_counts
from wylib.train import load_run
from wylib.vocab import N_SERVICE, Vocabulary, draw_seed

HERE = Path(__file__).resolve().parent
KINDS = ("stop", "new", "repeat", "service")
SPLITS = {"stop": 2, "stop_new_repeat": 4}  # number of kinds of each split
FIX = "kind and arity at 1, token at {T:g} (the patch's kind_temperature=1)"


# ----------------------------------------------------------------------------- the variant sampler


def element_kinds(present: torch.Tensor, split: str) -> torch.Tensor:
    """(B, V) kind index of every element token given the prefix's presence (B, V) bool.

    ``"stop_new_repeat"``: 0 STOP, 1 a real element absent from the prefix, 2 one present, 3 PAD / MASK;
    ``"stop"``: 0 STOP, 1 every other token."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {sorted(SPLITS)}, got {split!r}")
    kind = torch.ones(present.shape, dtype=torch.int64, device=present.device)
    if split == "stop_new_repeat":
        kind[present] = 2
        kind[:, :N_SERVICE] = 3
    kind[:, STOP] = 0
    return kind


def kind_logprobs(raw: torch.Tensor, kind: torch.Tensor, temperature: float, kind_temperature: float) -> torch.Tensor:
    """Log-probabilities (B, V) of the two-level draw: kind c from softmax(log P_model(c) / kind_temperature),
    with P_model(c) the summed softmax(raw) of its tokens, then token j of kind c from softmax(raw / temperature)
    over the tokens of c. Kinds without tokens get probability 0; tokens at -inf stay at -inf."""
    raw = raw.float()
    n_kinds = int(kind.max()) + 1
    member = kind[..., None] == torch.arange(n_kinds, device=kind.device)  # (B, V, K)
    ninf = torch.tensor(float("-inf"), device=raw.device)
    lp = torch.log_softmax(raw, -1)
    mass = torch.logsumexp(torch.where(member, lp[..., None], ninf), 1)  # (B, K) log P_model(kind)
    lq = torch.log_softmax(mass / kind_temperature, -1)
    x = torch.where(member, (raw / temperature)[..., None], ninf)
    lw = torch.nan_to_num(x - torch.logsumexp(x, 1, keepdim=True), nan=float("-inf"))  # within kind
    lw = torch.where(member, lw, ninf)
    return (lq[:, None, :] + lw).gather(2, kind[..., None])[..., 0]


@contextmanager
def kind_sampler(
    model: WyckoffTransformer,
    temperature: float,
    kind_temperature: float,
    split: str = "stop_new_repeat",
    arity_temperature: float | None = None,
):
    """Within the block, `wylib.sample.sample(model, ..., temperature)` draws the element step as `kind_logprobs`
    (and the arity at ``arity_temperature`` where given) instead of from softmax(logits / temperature).

    The element head's logits are replaced by ``temperature * kind_logprobs(...)``, which the sampler divides by
    ``temperature`` again; so the samples' ``logp`` is the log-probability under the distribution drawn from, but
    their ``logp_model`` is not the model's (use `sample_kinds`, which blanks it). For unconstrained sampling
    without ``max_elements`` (masks applied after the head would renormalise the two-level distribution)."""
    element_kinds(torch.zeros(1, 3, dtype=torch.bool), split)  # checks split
    head, arity_logits = model._head, model.arity_logits
    V = model.cfg.n_elements

    def _head(field, h, sites, n_known, *args, **kwargs):
        out = head(field, h, sites, n_known, *args, **kwargs)
        if field != 0:
            return out
        present = model.presence(sites[..., 0], n_known, V).bool()
        return temperature * kind_logprobs(out, element_kinds(present, split), temperature, kind_temperature)

    def _arity_logits(spacegroup):
        return arity_logits(spacegroup) * (temperature / arity_temperature)

    model._head = _head  # instance attributes shadow the methods until deleted
    if arity_temperature is not None:
        model.arity_logits = _arity_logits
    try:
        yield model
    finally:
        del model._head
        if arity_temperature is not None:
            del model.arity_logits


def sample_kinds(
    model: WyckoffTransformer,
    vocab: Vocabulary,
    n: int,
    spacegroup_distribution: torch.Tensor,
    temperature: float,
    kind_temperature: float,
    split: str = "stop_new_repeat",
    arity_temperature: float | None = None,
    seed: int = 0,
) -> SampleResult:
    """Free samples as `wylib.sample.sample` draws them, with the element step (and arity) of `kind_sampler`;
    ``logp_model`` is NaN (not the model's). Site symmetry and enumeration are drawn at ``temperature``."""
    with kind_sampler(model, temperature, kind_temperature, split, arity_temperature):
        res = sample(
            model,
            vocab,
            n,
            spacegroup_distribution=spacegroup_distribution,
            temperature=temperature,
            seed=seed,
            device="cpu",
            progress=False,
        )
    res.logp_model = torch.full_like(res.logp_model, float("nan"))
    res.meta.update(kind_temperature=kind_temperature, split=split, arity_temperature=arity_temperature)
    return res


def drawn_arity(model: WyckoffTransformer, counts: torch.Tensor, n: int, temperature: float, seed: int):
    """(space groups, arity) that `wylib.sample.sample(..., spacegroup_distribution=counts, seed=seed)` draws
    first, by replaying its generator (one batch: n <= its batch size)."""
    gen = torch.Generator().manual_seed(int(seed))
    sg = torch.multinomial(counts, n, replacement=True, generator=gen)
    with torch.no_grad():
        arity, _, _ = _draw(model.arity_logits(sg), None, temperature, gen)
    return sg, arity


# ----------------------------------------------------------------------------- teacher-forced rows


@torch.no_grad()
def path_rows(
    model: WyckoffTransformer,
    sg: torch.Tensor,
    E: torch.Tensor,
    S: torch.Tensor,
    C: torch.Tensor,
    n_sites: torch.Tensor,
    arity: torch.Tensor,
) -> pd.DataFrame:
    """The model's element distribution (T = 1) at every row k = 0..min(n, L - 1) of sequences (N, L) with their
    STOP position ``n_sites`` (L where none) and arity: one row per (sequence, k), see the column names.
    Rows whose prefix holds a service token are skipped."""
    N, L = E.shape
    V = model.cfg.n_elements
    pres_all = prefix_presence(E, V)
    real = (E >= N_SERVICE) & (S >= N_SERVICE) & (C >= N_SERVICE)
    clean = torch.cat([torch.ones(N, 1, dtype=torch.bool), real.cumprod(1).bool()[:, :-1]], 1)
    parts = []
    was_training = model.training
    model.eval()
    for k in range(L):
        b = torch.nonzero(clean[:, k] & (n_sites >= k)).flatten()
        if len(b) == 0:
            continue
        K = max(k, 1)
        nk = torch.full((len(b),), k, dtype=torch.int64)
        logits = model.cascade_logits(sg[b], E[b, :K], S[b, :K], C[b, :K], nk, 0, arity=arity[b])
        p = torch.softmax(logits.double(), -1)
        present = pres_all[b, k]
        new = ~present
        new[:, :N_SERVICE] = False
        p_new, p_rep = (p * new).sum(1), (p * present).sum(1)
        rest = p.clone()
        rest[:, STOP] = 0.0
        kinds = element_kinds(present, "stop_new_repeat")
        top = p.argmax(1)
        nxt = E[b, k]
        parts.append(
            pd.DataFrame(
                {
                    "i": b.numpy(),
                    "k": k,
                    "n_sites": n_sites[b].numpy(),
                    "to_go": (arity[b] - present.sum(1)).numpy(),
                    "p_stop": p[:, STOP].numpy(),
                    "p_new": p_new.numpy(),
                    "p_repeat": p_rep.numpy(),
                    "top_other": rest.max(1).values.numpy(),
                    "top_new": (p * new).max(1).values.numpy(),
                    "top_repeat": (p * present).max(1).values.numpy(),
                    "argmax": [KINDS[j] for j in kinds.gather(1, top[:, None])[:, 0].tolist()],
                    "next": [KINDS[j] for j in kinds.gather(1, nxt[:, None])[:, 0].tolist()],
                }
            )
        )
    model.train(was_training)
    return pd.concat(parts, ignore_index=True)


def cause_table(cold: pd.DataFrame, data: pd.DataFrame, L: int) -> pd.DataFrame:
    """The rows of the cold paths and of the data in the groups the README compares (see `GROUPS`)."""
    never = cold.n_sites >= L
    groups = {
        "cold, never stops: every element placed (STOP allowed)": cold[never & (cold.to_go == 0)],
        "cold, never stops: an element still due (STOP masked by the arity)": cold[never & (cold.to_go > 0)],
        "cold, stops: the row where it stops": cold[~never & (cold.k == cold.n_sites)],
        "cold, stops: earlier rows, every element placed": cold[~never & (cold.to_go == 0) & (cold.k < cold.n_sites)],
        "data: the end row (k = n)": data[data.k == data.n_sites],
        "data: earlier rows, every element placed": data[(data.to_go == 0) & (data.k < data.n_sites)],
        "data: rows with an element still due": data[data.to_go > 0],
    }
    out = []
    for name, g in groups.items():
        out.append(
            {
                "rows of": name,
                "structures": g.i.nunique(),
                "rows": len(g),
                "P(STOP)": g.p_stop.mean(),
                "largest other token": g.top_other.mean(),
                "P(new)": g.p_new.mean(),
                "largest new": g.top_new.mean(),
                "P(repeat)": g.p_repeat.mean(),
                "largest repeat": g.top_repeat.mean(),
                "argmax STOP %": 100 * (g.argmax == "stop").mean(),
                "argmax new %": 100 * (g.argmax == "new").mean(),
                "P(STOP) > 0.5 %": 100 * (g.p_stop > 0.5).mean(),
                "P(new) > P(repeat) %": 100 * (g.p_new > g.p_repeat).mean(),
            }
        )
    return pd.DataFrame(out)


def path_survival(cold: pd.DataFrame, L: int) -> pd.DataFrame:
    """Per never-stopping cold path: how likely the model finds it to go on as it did, step by step.

    ``placed``: paths that place every element of their arity, at the rows after that: the model's probability of
    not stopping at any of them, prod(1 - P(STOP)), and the largest P(STOP) along them. ``due``: paths that never
    place their last element, at the rows after their last new element: the probability of no new element at
    any of them, prod(1 - P(new)), and the largest P(new)."""
    never = cold[cold.n_sites >= L]
    last = never.groupby("i").to_go.transform("min")  # elements still due once the path stops adding new ones
    out = []
    for kind, rows, col in (
        ("placed", never[(last == 0) & (never.to_go == 0)], "p_stop"),
        ("due", never[(last > 0) & (never.to_go == last) & (never.k > 0)], "p_new"),
    ):
        if len(rows) == 0:
            continue
        g = rows.groupby("i")[col]
        log10_surv = g.apply(lambda s: float(np.log10(np.clip(1 - s.to_numpy(), 1e-300, None)).sum()))
        out.append(
            {
                "never-stopping paths": kind,
                "paths": len(log10_surv),
                "rows per path": float(g.size().mean()) if len(log10_surv) else float("nan"),
                "P (STOP or new) per row": float(rows[col].mean()),
                "largest along the path (mean)": float(g.max().mean()),
                "paths whose largest > 0.5 %": 100 * float((g.max() > 0.5).mean()),
                "log10 P(model goes on like this), median": float(log10_surv.median()),
            }
        )
    return pd.DataFrame(out)


def per_step(cold: pd.DataFrame, L: int) -> pd.DataFrame:
    """Means per position k over the never-stopping cold paths, split into placed / due rows."""
    never = cold[cold.n_sites >= L]
    g = never.assign(state=np.where(never.to_go == 0, "placed", "due")).groupby(["state", "k"])
    cols = ["p_stop", "top_other", "p_new", "top_new", "top_repeat"]
    return g[cols].mean().join(g.size().rename("rows")).reset_index()


# ----------------------------------------------------------------------------- sampler figures


def sampler_row(name: str, res: SampleResult, L: int, test_sites: np.ndarray) -> dict:
    ns = res.n_sites.numpy()
    valid = res.valid.numpy()
    reps = [r for r in res.representations if r is not None]
    sites = np.array([len(r.sites) for r in reps])
    return {
        "sampler": name,
        "T": res.temperature,
        "N": len(res),
        "no STOP %": 100 * float((ns >= L).mean()),
        "mean stop position (all)": float(ns.mean()),
        "validity %": 100 * float(valid.mean()),
        "mean sites (valid)": float(sites.mean()),
        "sites KS (valid vs test)": ks_statistic(sites, test_sites),
        "ternary % (valid)": 100 * float(np.mean([r.n_elements == 3 for r in reps])),
    }


def figure(steps: pd.DataFrame, cold: pd.DataFrame, data: pd.DataFrame, L: int, name: str) -> list[Path]:
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    due_data = data[(data.to_go > 0) & (data.k > 0)]
    never = cold[cold.n_sites >= L]
    last = never.groupby("i").to_go.transform("min")
    due_cold = never[(last > 0) & (never.to_go == last) & (never.k > 0)]
    ax = axes[0]
    s = due_cold.groupby("k")[["p_new", "top_new", "top_repeat"]].mean().reset_index()
    ax.plot(s.k, s.p_new, "o-", label="P(new element), summed")
    ax.plot(s.k, s.top_new, "s-", label="largest single new element")
    ax.plot(s.k, s.top_repeat, "^-", label="largest single repeat")
    ax.axhline(due_data.p_new.mean(), color="k", ls="--", lw=1, label="data, element due: P(new)")
    ax.axhline(due_data.top_new.mean(), color="grey", ls="--", lw=1, label="data, element due: largest new")
    ax.set(xlabel="position k (sites so far)", ylabel="model probability (T = 1)", ylim=(0, 1))
    ax.set_title(f"{due_cold.i.nunique()} cold paths without STOP: an element still due", fontsize=9)
    ax.legend(fontsize=7)
    ax = axes[1]
    bins = np.linspace(0, 1, 11)
    for rows, label in ((due_data, "data"), (due_cold, "cold paths without STOP")):
        b = np.clip(np.digitize(rows.p_new, bins) - 1, 0, len(bins) - 2)
        share = rows.assign(b=b, new=rows.argmax == "new").groupby("b").new.mean()
        ax.plot((bins[share.index] + bins[share.index + 1]) / 2, share.to_numpy(), "o-", label=label)
    ax.plot([0, 1], [0, 1], ":", color="grey", lw=0.8)
    ax.set(xlabel="P(new element), summed (T = 1)", ylabel="share of rows whose argmax is a new element")
    ax.set(xlim=(0, 1), ylim=(0, 1.02))
    ax.set_title("rows with an element due (k > 0): the argmax against P(new)", fontsize=9)
    ax.legend(fontsize=7)
    ax = axes[2]
    end = data[data.k == data.n_sites]
    before = data[(data.to_go == 0) & (data.k < data.n_sites)]
    stop_rows = cold[(cold.n_sites < L) & (cold.k == cold.n_sites)]
    for rows, label in ((end, "data: end row"), (before, "data: earlier, all placed"), (stop_rows, "cold: stop row")):
        ax.hist(rows.p_stop, bins=np.linspace(0, 1, 26), histtype="step", density=True, lw=1.5,
                label=f"{label} ({len(rows)} rows)")  # fmt: skip
    ax.axvline(0.5, color="k", lw=0.8, ls=":")
    ax.set(xlabel="P(STOP) (T = 1), rows with every element placed", ylabel="density")
    ax.set_title("once every element is placed, STOP wins where the data stop", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    paths = plots.save_figure(fig, name, HERE / "figures")
    plt.close(fig)
    return paths


def long(section: str, df: pd.DataFrame, key: str) -> pd.DataFrame:
    m = df.melt(id_vars=[key], var_name="column", value_name="value").rename(columns={key: "row"})
    return m.assign(section=section)[["section", "row", "column", "value"]]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run-dir", default="runs/default")
    ap.add_argument("--dataset", default="mp_20_biternary_open")
    ap.add_argument("--n", type=int, default=2000, help="samples per sampler (<= 4096: one batch)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cold", type=float, default=0.01, help="the near-greedy temperature")
    ap.add_argument("--extra-seeds", type=int, nargs="*", default=[1, 2], help="seeds of the short seed table")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--name", default="greedy_stop")
    args = ap.parse_args()
    if args.n > 4096:
        raise SystemExit("--n must be <= 4096 (the arity is recovered from one sampling batch)")
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    model, vocab, _ = load_run(args.run_dir, device="cpu")
    L, T = vocab.length, args.cold
    counts = spacegroup_counts(args.dataset)
    test, _ = load_encoded(args.dataset, "test", vocab=vocab)
    test_sites = test.n_sites.numpy()

    # 1 + 3. samplers, all samples
    plain = {t: sample(model, vocab, args.n, spacegroup_distribution=counts, temperature=t, seed=args.seed,
                       device="cpu", progress=False) for t in (1.0, T)}  # fmt: skip
    variants = [  # (name, temperature, kind temperature, split, arity temperature)
        (f"STOP vs the rest at {T:g}, token at {T:g}", T, T, "stop", None),
        (f"STOP vs the rest at 1, token at {T:g}", T, 1.0, "stop", None),
        (f"kind (STOP/new/repeat) at {T:g}, token at {T:g}", T, T, "stop_new_repeat", None),
        (f"kind at 1, token at {T:g}", T, 1.0, "stop_new_repeat", None),
        (FIX.format(T=T), T, 1.0, "stop_new_repeat", 1.0),
        ("kind and arity at 1, token at 1", 1.0, 1.0, "stop_new_repeat", 1.0),
    ]
    rows = [sampler_row("wylib.sample, T = 1", plain[1.0], L, test_sites)]
    rows.append(sampler_row(f"wylib.sample, T = {T:g}", plain[T], L, test_sites))
    same_as_t1 = None
    for name, t, kt, split, at in variants:
        res = sample_kinds(model, vocab, args.n, counts, t, kt, split, at, seed=args.seed)
        rows.append(sampler_row(name, res, L, test_sites))
        if t == 1.0:
            p = plain[1.0]
            same = (res.n_sites == p.n_sites) & (res.spacegroup == p.spacegroup)
            for f in ("element", "site_symmetry", "enumeration"):
                same &= (getattr(res, f) == getattr(p, f)).all(1)
            same_as_t1 = int(same.sum())
    rows.append(
        {
            "sampler": f"data (test split, {len(test)} structures)",
            "mean stop position (all)": float(test_sites.mean()),
            "mean sites (valid)": float(test_sites.mean()),
            "ternary % (valid)": 100 * float((model.arity_of(test.element, test.n_sites) == 3).float().mean()),
        }
    )
    samplers = pd.DataFrame(rows)

    # 2. the cause: teacher-forced rows along the cold paths and the test structures
    cold = plain[T]
    sg, arity = drawn_arity(model, counts, args.n, T, args.seed)
    assert torch.equal(sg, cold.spacegroup), "the replayed generator does not give the sampled space groups"
    stopped = cold.n_sites < L
    d = model.arity_of(cold.element, cold.n_sites.clamp(max=L))
    assert torch.equal(d[stopped], arity[stopped]), "a stopped sample's distinct elements differ from its arity"
    cold_rows = path_rows(model, sg, cold.element, cold.site_symmetry, cold.enumeration, cold.n_sites, arity)
    E, S, C = test.permuted(torch.Generator().manual_seed(draw_seed(args.seed, 0)))
    data_rows = path_rows(model, test.spacegroup, E, S, C, test.n_sites, model.arity_of(E, test.n_sites))
    cause = cause_table(cold_rows, data_rows, L)
    survival = path_survival(cold_rows, L)
    steps = per_step(cold_rows, L)
    never = ~stopped
    due_all = cold_rows[cold_rows.n_sites >= L].groupby("i").to_go.min() > 0  # an element due at every row
    n_due, n_last = int(due_all.sum()), int((never & (d == arity)).sum())
    seed_rows = []
    for seed in [args.seed, *args.extra_seeds]:
        for name, res in (
            (f"wylib.sample, T = {T:g}", sample(model, vocab, args.n, spacegroup_distribution=counts, temperature=T,
                                                seed=seed, device="cpu", progress=False)),
            (FIX.format(T=T), sample_kinds(model, vocab, args.n, counts, T, 1.0, "stop_new_repeat", 1.0, seed=seed)),
        ):  # fmt: skip
            seed_rows.append({"seed": seed, **sampler_row(name, res, L, test_sites)})
    seeds = pd.DataFrame(seed_rows).drop(columns=["T", "N"])
    fig_paths = figure(steps, cold_rows, data_rows, L, args.name)

    res_dir = HERE / "results"
    res_dir.mkdir(exist_ok=True)
    pd.concat(
        [
            long("samplers", samplers, "sampler"),
            long("cause", cause, "rows of"),
            long("survival", survival, "never-stopping paths"),
            long(
                "seeds",
                seeds.assign(row=seeds.sampler + "|" + seeds.seed.astype(str)).drop(columns=["sampler", "seed"]),
                "row",
            ),  # fmt: skip
            long(
                "per_step",
                steps.assign(row=steps.state + "|" + steps.k.astype(str)).drop(columns=["state", "k"]),
                "row",
            ),  # fmt: skip
        ]
    ).to_csv(res_dir / f"{args.name}.csv", index=False)
    wall = (time.perf_counter() - t0) / 60
    text = f"""# Near-greedy sampling: why samples never stop, and a sampler under which they do

{host_stamp()}, CPU {cpu_model()}, {args.threads} torch thread(s), {wall:.1f} min. Command:

    WYLIB_DATA_DIR=../shared/data .venv/bin/{command_line("studies.chemistry.greedy_stop")}

Model `{args.run_dir}`; {args.n} free samples per sampler (seed {args.seed}, space groups from train+val,
unconstrained); L = {L} positions, so a sample without STOP counts with stop position {L}. Figure:
`{fig_paths[1].relative_to(HERE.parent.parent)}`.

## Samplers, over all samples

"kind": the kind of the next element token (STOP, a new element, a repeat) is drawn from the model's summed
probabilities at the first temperature, the token within its kind at the second; "STOP vs the rest": two kinds
only. The last variant at T = 1 gives the same {same_as_t1} of {args.n} sequences as `wylib.sample` at T = 1.

{samplers.to_markdown(index=False, floatfmt=".3g")}

## The cause: the model's P(STOP) along the cold paths and along the test structures

Teacher-forced element distribution at T = 1; cold paths: the `wylib.sample, T = {T:g}` samples with the arity
each drew; data: the test split in one random site order with its own arity. Of the {int(never.sum())} cold
samples without STOP, {n_due} have an element still due at every position where STOP could follow (STOP is
masked until the arity's last element is placed); {n_last} of them place it at the last position, where
nothing follows. Rows "k > 0 after the last new element" of those paths are the "due" paths below.

{cause.to_markdown(index=False, floatfmt=".3g")}

Per never-stopping path:

{survival.to_markdown(index=False, floatfmt=".3g")}

## Seeds

`wylib.sample` at T = {T:g} and the fix, {args.n} samples per seed:

{seeds.to_markdown(index=False, floatfmt=".3g")}
"""
    (res_dir / f"{args.name}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
