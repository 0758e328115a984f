"""Choose the trial screen from an exhaustive multi-trial run, without relaxing anything again.

Reads a `relax.jsonl` in which every trial of every sample was relaxed to the end (for example
`studies/protocol/trial_effect.py`'s `output/trial_effect/all/relax.jsonl`); every record keeps its energy every
`wylib.relax.TRACE_EVERY` FIRE steps (`trace`). For each screen (pause after S FIRE steps, go on with the
trials within margin M eV/atom of the sample's lowest energy at that point, at most K of them) it replays
the decision on the recorded energies and reports

* cost: FIRE atom-steps (steps x atoms, summed over trials) relative to the exhaustive run;
* changed: % of samples whose kept trial is not the exhaustive run's lowest-energy trial;
* within 10 meV: % of samples whose kept trial's final energy is within 10 meV/atom of the exhaustive best.

The energy at the pause is the last trace point at or before S steps (a trial that ended before S uses its
final energy), so S is best a multiple of TRACE_EVERY.

`--adaptive` replays instead an adaptive number of trials: relax trials 0..start-1 of a sample, then one more
at a time, until two usable trials end within `tol` eV/atom of the lowest energy so far (or all are used).

    .venv/bin/python -m studies.protocol.screen_sim output/trial_effect/all/relax.jsonl
    .venv/bin/python -m studies.protocol.screen_sim output/te_default/all/relax.jsonl --adaptive
"""

from __future__ import annotations

import argparse
import itertools

import numpy as np
import pandas as pd

from wylib.relax import USABLE_FLAGS, checked, read_jsonl


def trials_by_sample(records: list[dict]) -> dict[str, list[dict]]:
    """Usable trials per sample with (final energy, atoms, total steps, trace as (cumulative step, energy))."""
    out: dict[str, list[dict]] = {}
    for rec in map(checked, records):
        sample = rec["id"].rsplit("/", 1)[0]
        ok = rec["flag"] in USABLE_FLAGS and rec.get("energy_per_atom") is not None
        offsets = np.concatenate([[0], np.cumsum(rec["n_steps"])])
        trace = [(int(offsets[int(p)] + s), e) for p, s, e in rec.get("trace", [])]
        n_atoms = len(rec["structure"]["sites"]) if rec.get("structure") else 0
        out.setdefault(sample, []).append(
            dict(
                ok=ok,
                e=rec["energy_per_atom"] if ok else np.inf,
                atoms=n_atoms,
                steps=int(offsets[-1]),
                trace=trace,
                trial=int(rec["id"].rsplit("/", 1)[1]),
            )
        )
    return out


def energy_at(trial: dict, steps: int) -> float:
    """The trial's energy at `steps` FIRE steps (last trace point at or before; final if it ended earlier)."""
    if trial["steps"] <= steps or not trial["trace"]:
        return trial["e"]
    before = [e for s, e in trial["trace"] if s <= steps]
    return before[-1] if before else trial["trace"][0][1]


def replay(samples: dict[str, list[dict]], steps, margin, keep: int | None) -> dict:
    """Outcome of one screen over all samples (see the module docstring). `steps` and `margin` may be
    sequences (a screen at each step count, each with its margin); `keep` applies at every screen."""
    step_list = [int(x) for x in np.atleast_1d(steps)]
    stages = list(zip(step_list, np.broadcast_to(margin, (len(step_list),)).tolist(), strict=True))
    cost = full = changed = within = n = 0
    for trials in samples.values():
        usable = [t for t in trials if t["ok"]]
        if not usable:
            continue
        n += 1
        best_full = min(t["e"] for t in usable)
        full += sum(t["steps"] * t["atoms"] for t in trials)
        alive, stopped = list(trials), []  # stopped: (trial, steps done)
        for s_k, m_k in stages:
            ended = [t for t in alive if t["steps"] <= s_k]
            paused = [t for t in alive if t["steps"] > s_k]
            at = {id(t): energy_at(t, s_k) for t in paused}
            best_at = min([at[id(t)] for t in paused] + [t["e"] for t in ended if t["ok"]] + [np.inf])
            ranked = sorted(paused, key=lambda t: at[id(t)])
            go_on = [t for r, t in enumerate(ranked) if at[id(t)] <= best_at + m_k and (keep is None or r < keep)]
            stopped += [(t, s_k) for t in paused if t not in go_on]
            alive = ended + go_on
        cost += sum(t["steps"] * t["atoms"] for t in alive) + sum(s_k * t["atoms"] for t, s_k in stopped)
        kept = min([t["e"] for t in alive if t["ok"]] + [np.inf])
        changed += kept != best_full
        within += abs(kept - best_full) <= 0.010
    return dict(screen_steps=steps, margin=margin, keep=keep, **_outcome(n, cost, full, changed, within))


def _outcome(n: int, cost: float, full: float, changed: int, within: int) -> dict:
    """The reported shares: cost against the exhaustive run, samples whose kept trial changed, and within 10 meV."""
    return dict(
        samples=n,
        cost_pct=round(100 * cost / full, 1),
        changed_pct=round(100 * changed / n, 1),
        within_10meV_pct=round(100 * within / n, 1),
    )


def adaptive(samples: dict[str, list[dict]], tol: float, start: int) -> dict:
    """Outcome of the adaptive trial count (module docstring) over all samples: cost and agreement as `replay`."""
    cost = full = changed = within = n = 0
    for trials in samples.values():
        if not any(t["ok"] for t in trials):
            continue
        n += 1
        ordered = sorted(trials, key=lambda t: t["trial"])
        used = ordered[:start]
        while len(used) < len(ordered):
            e = sorted(t["e"] for t in used if t["ok"])
            if len(e) >= 2 and e[1] - e[0] <= tol:
                break
            used = ordered[: len(used) + 1]
        full += sum(t["steps"] * t["atoms"] for t in trials)
        cost += sum(t["steps"] * t["atoms"] for t in used)
        best_full, kept = min(t["e"] for t in trials), min(t["e"] for t in used)
        changed += kept != best_full
        within += abs(kept - best_full) <= 0.010
    return dict(tol=tol, start=start, **_outcome(n, cost, full, changed, within))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("relax_jsonl")
    ap.add_argument("--steps", default="0,10,20,30,50,80,100,150")
    ap.add_argument("--margins", default="0.02,0.05,0.1,0.2")
    ap.add_argument("--keeps", default="1,2,3,none")
    ap.add_argument("--out", default=None, help="CSV of every screen")
    ap.add_argument("--adaptive", action="store_true", help="replay the adaptive trial count instead")
    a = ap.parse_args()
    samples = trials_by_sample(read_jsonl(a.relax_jsonl))
    if a.adaptive:
        rows = [adaptive(samples, tol, start) for tol in (0.001, 0.005, 0.01) for start in (2, 3)]
        print(f"{len(samples)} samples; adaptive trial count, cheapest first:")
        print(pd.DataFrame(rows).sort_values("cost_pct").to_markdown(index=False))
        return
    grid = itertools.product(
        [int(s) for s in a.steps.split(",")],
        [float(m) for m in a.margins.split(",")],
        [None if k == "none" else int(k) for k in a.keeps.split(",")],
    )
    df = pd.DataFrame([replay(samples, s, m, k) for s, m, k in grid])
    if a.out:
        df.to_csv(a.out, index=False)
    at_best = [
        sum(t["ok"] and t["e"] - min(u["e"] for u in ts) <= 0.010 for t in ts)
        for ts in samples.values()
        if any(t["ok"] for t in ts)
    ]
    print("samples by number of trials within 10 meV/atom of their lowest energy:", np.bincount(at_best).tolist())
    print(f"{len(samples)} samples, {sum(len(t) for t in samples.values())} trials; every screen, cheapest first:")
    print(df.sort_values("cost_pct").to_markdown(index=False))
    good = df[df["within_10meV_pct"] >= 95].sort_values("cost_pct")
    print("cheapest screen with >= 95 % of samples within 10 meV/atom:", good.head(1).to_dict("records") or "none")
    cheap = df[df["cost_pct"] <= 100 / 3].sort_values("within_10meV_pct", ascending=False)
    print("best agreement at <= 1/3 of the exhaustive cost:", cheap.head(1).to_dict("records") or "none")


if __name__ == "__main__":
    main()
