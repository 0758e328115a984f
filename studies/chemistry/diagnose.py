"""Diagnosis of the element statistics of generated sequences: where new elements, STOP and invalidity come from
(the measurements of `studies.chemistry.diagnose_elements`).

Every position k of an ordered sequence (k sites already emitted) is one *row*. Its next element falls in one
of four categories (`CATEGORIES`): ``new`` (a real element not among the first k sites), ``repeat`` (a real
element already among them), ``stop`` or ``service`` (PAD/MASK). For a row we record

- what the data do: the category of the token that follows (``next``), and the masses of the training target
  (`target_masses`: the normalised histogram of the not-yet-emitted elements, wylib.likelihood's soft target,
  summed per category; it is the expectation of the one-hot ``next`` over the order of the remaining sites);
- what the model does: its element distribution at T = 1 given the prefix, summed per category (``p_*``), and
  the category of its most likely element (``argmax``, what T -> 0 emits).

`element_rows` computes them by teacher forcing, which for a sequence the model generated itself is exactly the
distribution the free sampler drew from (the sampler feeds the same prefix to the same cascade step). Rows whose
prefix holds a service token are skipped (the model never sees such a prefix in training).

    >>> steps = element_rows(model, sequences_of(encoded_split), max_distinct=3)
    >>> step_table(steps.rows, ["d_prefix"])        # P(new | distinct elements so far), model vs data
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from wylib.model import STOP, WyckoffTransformer
from wylib.sample import reason_category
from wylib.vocab import N_SERVICE

CATEGORIES = ("new", "repeat", "stop", "service")
ROW_COLUMNS = [
    "structure",
    "k",
    "n_sites",
    "d_prefix",
    "d_total",
    "next",
    "argmax",
    "target_new",
    "target_repeat",
    "target_stop",
    "p_new",
    "p_repeat",
    "p_stop",
    "p_service",
]


# ----------------------------------------------------------------------------- token bookkeeping (pure)


def prefix_presence(element: torch.Tensor, vocab_size: int | None = None) -> torch.Tensor:
    """(N, L) element ids -> (N, L, V) bool: real element v occurs among positions < k
    (V = ``vocab_size``, default max id + 1)."""
    N, L = element.shape
    V = vocab_size or (int(element.max()) + 1 if element.numel() else N_SERVICE)
    onehot = torch.zeros(N, L, V, dtype=torch.int64).scatter_(2, element[..., None], 1)
    onehot[..., :N_SERVICE] = 0
    seen = onehot.cumsum(1) > 0
    return torch.cat([torch.zeros(N, 1, V, dtype=torch.bool), seen[:, :-1]], 1)


def next_category(element: torch.Tensor) -> torch.Tensor:
    """(N, L) element ids -> (N, L) index into CATEGORIES of the token at each position given the ones before."""
    pres = prefix_presence(element)
    seen = pres.gather(2, element[..., None])[..., 0]
    real = element >= N_SERVICE
    cat = torch.full(element.shape, CATEGORIES.index("service"), dtype=torch.int64)
    cat[element == STOP] = CATEGORIES.index("stop")
    cat[real & seen] = CATEGORIES.index("repeat")
    cat[real & ~seen] = CATEGORIES.index("new")
    return cat


def distinct_prefix(element: torch.Tensor) -> torch.Tensor:
    """(N, L) -> (N, L) number of distinct real elements among positions < k."""
    return prefix_presence(element).sum(-1)


def target_masses(element: torch.Tensor, n_sites: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Training-target mass (B, 3) on new / repeat / stop at position k (B,) of ordered sequences (B, L).

    The target is the normalised histogram of the real elements at positions k..n-1 (STOP = 1 at k = n), as
    `wylib.likelihood.soft_element_target`; NaN where k < n and no real element remains (not a data sequence)."""
    B, L = element.shape
    pos = torch.arange(L)[None]
    pres = prefix_presence(element)[torch.arange(B), k.clamp(max=L - 1)]  # (B, V)
    remaining = (pos >= k[:, None]) & (pos < n_sites[:, None]) & (element >= N_SERVICE)
    seen = pres.gather(1, element)
    new = (remaining & ~seen).sum(1).double()
    rep = (remaining & seen).sum(1).double()
    at_end = k >= n_sites
    tot = new + rep
    out = torch.stack([new / tot, rep / tot, torch.zeros(B, dtype=torch.float64)], 1)
    out[at_end] = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)
    return out


def category_masses(probs: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
    """Element probabilities (B, V) and presence (B, V) bool of the prefix -> mass (B, 4) per CATEGORIES."""
    real = torch.zeros_like(present)
    real[:, N_SERVICE:] = True
    new = (probs * (real & ~present)).sum(1)
    rep = (probs * (real & present)).sum(1)
    stop = probs[:, STOP]
    service = probs[:, :N_SERVICE].sum(1) - stop
    return torch.stack([new, rep, stop, service], 1)


def argmax_category(probs: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
    """(B,) index into CATEGORIES of the single most likely element token."""
    top = probs.argmax(1)
    seen = present.gather(1, top[:, None])[:, 0]
    cat = torch.full_like(top, CATEGORIES.index("service"))
    cat[top == STOP] = CATEGORIES.index("stop")
    cat[(top >= N_SERVICE) & seen] = CATEGORIES.index("repeat")
    cat[(top >= N_SERVICE) & ~seen] = CATEGORIES.index("new")
    return cat


# ----------------------------------------------------------------------------- teacher-forced rows


@dataclass
class ElementSteps:
    """Per-row table (ROW_COLUMNS) and, per number of distinct elements so far d (index), the model's summed
    probability of every element id that is absent from the prefix (``absent_mass`` (D, V), D = max d + 1)."""

    rows: pd.DataFrame
    absent_mass: np.ndarray


@torch.no_grad()
def element_rows(
    model: WyckoffTransformer,
    spacegroup: torch.Tensor,
    element: torch.Tensor,
    site_symmetry: torch.Tensor,
    enumeration: torch.Tensor,
    n_sites: torch.Tensor,
    batch_size: int = 4096,
) -> ElementSteps:
    """Teacher-forced element distributions at every row k = 0..min(n, L-1) of ordered sequences (see module doc).

    ``n_sites`` is the STOP position (L where none). Rows whose prefix contains a service token in any field are
    skipped. The model is run in eval mode and put back in its previous mode."""
    N, L = element.shape
    if not (site_symmetry.shape == enumeration.shape == element.shape and n_sites.shape == (N,)):
        raise ValueError(
            f"shapes differ: element {tuple(element.shape)}, site_symmetry {tuple(site_symmetry.shape)}, "
            f"enumeration {tuple(enumeration.shape)}, n_sites {tuple(n_sites.shape)}"
        )
    V = model.cfg.n_elements
    if N and int(element.max()) >= V:
        raise ValueError(f"element id {int(element.max())} outside the model's vocabulary ({V})")
    el = element.cpu().long()
    pres_all = prefix_presence(el, V)
    cats, dpre = next_category(el), pres_all.sum(-1)
    real_all = (el >= N_SERVICE) & (site_symmetry.cpu() >= N_SERVICE) & (enumeration.cpu() >= N_SERVICE)
    clean = torch.cat([torch.ones(N, 1, dtype=torch.bool), real_all.cumprod(1).bool()[:, :-1]], 1)  # prefix ok
    last = torch.clamp(n_sites.cpu(), max=L - 1)
    rows_mask = clean & (torch.arange(L)[None] <= last[:, None])
    d_total = distinct_prefix(torch.cat([el, torch.full((N, 1), STOP)], 1))[torch.arange(N), n_sites.cpu().clamp(max=L)]
    was_training = model.training
    model.eval()
    dev = next(model.parameters()).device
    parts, absent = [], np.zeros((L + 1, V))
    for k in range(L):
        idx = torch.nonzero(rows_mask[:, k]).flatten()
        for b in idx.split(batch_size):
            K = max(k, 1)
            nk = torch.full((len(b),), k, dtype=torch.int64)
            logits = model.cascade_logits(
                spacegroup[b].to(dev),
                el[b, :K].to(dev),
                site_symmetry[b, :K].to(dev),
                enumeration[b, :K].to(dev),
                nk.to(dev),
                0,
                arity=d_total[b].to(dev) if model.cfg.arity else None,  # conditioned on the structure's own arity
            )
            probs = torch.softmax(logits.float(), -1).cpu().double()
            present = pres_all[b, k]
            mass = category_masses(probs, present)
            am = argmax_category(probs, present)
            tgt = target_masses(el[b], n_sites[b].cpu(), nk)
            d = dpre[b, k]
            absent_p = (probs * ~present).numpy()
            absent_p[:, :N_SERVICE] = 0.0
            np.add.at(absent, d.numpy(), absent_p)
            parts.append(
                pd.DataFrame(
                    {
                        "structure": b.numpy(),
                        "k": k,
                        "n_sites": n_sites[b].cpu().numpy(),
                        "d_prefix": d.numpy(),
                        "d_total": d_total[b].numpy(),
                        "next": [CATEGORIES[i] for i in cats[b, k].tolist()],
                        "argmax": [CATEGORIES[i] for i in am.tolist()],
                        **{f"target_{c}": tgt[:, i].numpy() for i, c in enumerate(CATEGORIES[:3])},
                        **{f"p_{c}": mass[:, i].numpy() for i, c in enumerate(CATEGORIES)},
                    }
                )
            )
    model.train(was_training)
    rows = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=ROW_COLUMNS)
    top = int(rows.d_prefix.max()) if len(rows) else 0
    return ElementSteps(rows[ROW_COLUMNS], absent[: top + 1])


def step_table(rows: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """Per group of ``by``: number of rows, empirical rate of each next category (``data_*``), mean training
    target (``target_*``), mean model mass (``model_*``) and share of rows whose most likely token is of each
    category (``argmax_*``)."""
    missing = [c for c in by if c not in rows.columns]
    if missing:
        raise ValueError(f"unknown columns {missing}; rows have {list(rows.columns)}")
    g = rows.groupby(list(by), sort=True)
    out = g.size().rename("n_rows").to_frame()
    for c in CATEGORIES:
        out[f"data_{c}"] = g["next"].apply(lambda s, c=c: float((s == c).mean()))
    for c in CATEGORIES[:3]:
        out[f"target_{c}"] = g[f"target_{c}"].mean()
    for c in CATEGORIES:
        out[f"model_{c}"] = g[f"p_{c}"].mean()
    for c in CATEGORIES:
        out[f"argmax_{c}"] = g["argmax"].apply(lambda s, c=c: float((s == c).mean()))
    return out.reset_index()


def leaked_elements(absent_mass: np.ndarray, d: int, elements: Sequence[str], top: int = 10) -> pd.DataFrame:
    """The elements that take the model's mass on absent elements at d distinct elements so far: element,
    summed probability, share of the d-row leak; ``elements`` are the real tokens (ids from 3)."""
    if d >= len(absent_mass):
        return pd.DataFrame(columns=["element", "mass", "share"])
    m = absent_mass[d, N_SERVICE : N_SERVICE + len(elements)]
    order = np.argsort(-m)[:top]
    tot = m.sum()
    return pd.DataFrame(
        {"element": [elements[i] for i in order], "mass": m[order], "share": m[order] / tot if tot > 0 else np.nan}
    )


# ----------------------------------------------------------------------------- samples (pure)

_STEP = re.compile(r"site (\d+)")


def reason_step(reason: str | None, length: int) -> int | None:
    """Site index at which a decoding/validity message (wylib.vocab.decode) says the sequence went wrong:
    the ``site i`` it names, ``length`` for a missing STOP, 0 for an empty sequence, None if valid or unknown."""
    if reason is None:
        return None
    m = _STEP.search(reason)
    if m:
        return int(m.group(1))
    if "no STOP" in reason:
        return length
    if "empty sequence" in reason:
        return 0
    return None


def sample_table(element: torch.Tensor, n_sites: torch.Tensor, reasons: Sequence[str | None]) -> pd.DataFrame:
    """One row per sampled sequence: n_sites (STOP position, L if none), n_distinct (real elements before STOP),
    valid, reason category (wylib.sample.reason_category) and the step it names (`reason_step`)."""
    N, L = element.shape
    if len(reasons) != N or n_sites.shape != (N,):
        raise ValueError(f"{N} sequences but {len(reasons)} reasons and n_sites of shape {tuple(n_sites.shape)}")
    within = torch.arange(L)[None] < n_sites[:, None]
    ended = torch.cat([torch.where(within, element, STOP), torch.full((N, 1), STOP)], 1)
    n_distinct = distinct_prefix(ended)[torch.arange(N), n_sites.clamp(max=L)]
    return pd.DataFrame(
        {
            "n_sites": n_sites.numpy(),
            "n_distinct": n_distinct.numpy(),
            "valid": [r is None for r in reasons],
            "reason": [reason_category(r) for r in reasons],
            "step": [reason_step(r, L) for r in reasons],
        }
    )


def shares(values: Sequence[int], support: Sequence[int]) -> np.ndarray:
    """Share of ``values`` equal to each entry of ``support`` (values outside it are counted nowhere)."""
    v = np.asarray(values)
    return np.array([float(np.mean(v == s)) if v.size else np.nan for s in support])


def cdf_gaps(generated: Sequence[int], reference: Sequence[int]) -> pd.DataFrame:
    """Empirical CDF of both integer samples at every value and the gap generated - reference; the largest
    absolute gap is the two-sample KS statistic."""
    g, r = np.asarray(generated), np.asarray(reference)
    support = np.union1d(np.unique(g), np.unique(r))
    cg = np.array([np.mean(g <= s) for s in support]) if g.size else np.full(len(support), np.nan)
    cr = np.array([np.mean(r <= s) for s in support]) if r.size else np.full(len(support), np.nan)
    return pd.DataFrame({"value": support, "cdf_generated": cg, "cdf_reference": cr, "gap": cg - cr})


def frequency_ratios(
    generated: Mapping[str, float], reference: Mapping[str, float], min_share: float = 0.0
) -> pd.DataFrame:
    """Per element: share of the total weight in each set and their ratio generated/reference, sorted by ratio
    (descending). Elements whose reference share is below ``min_share`` are dropped (unstable ratios)."""
    tg, tr = float(sum(generated.values())), float(sum(reference.values()))
    if tg <= 0 or tr <= 0:
        raise ValueError("both frequency tables need a positive total weight")
    names = sorted(set(generated) | set(reference))
    df = pd.DataFrame(
        {
            "element": names,
            "share_generated": [generated.get(e, 0.0) / tg for e in names],
            "share_reference": [reference.get(e, 0.0) / tr for e in names],
        }
    )
    df = df[df.share_reference >= min_share]
    with np.errstate(divide="ignore"):
        df["ratio"] = df.share_generated / df.share_reference
    return df.sort_values("ratio", ascending=False, kind="stable").reset_index(drop=True)


def count_elements(
    element: torch.Tensor, n_sites: torch.Tensor, elements: Sequence[str], keep: torch.Tensor | None = None
) -> Counter:
    """Element tokens (one per Wyckoff site, before STOP) of the rows in ``keep`` -> Counter by symbol."""
    N, L = element.shape
    keep = torch.ones(N, dtype=torch.bool) if keep is None else keep
    within = (torch.arange(L)[None] < n_sites[:, None]) & keep[:, None] & (element >= N_SERVICE)
    ids = element[within] - N_SERVICE
    c = torch.bincount(ids, minlength=len(elements)).tolist() if ids.numel() else [0] * len(elements)
    return Counter({elements[i]: n for i, n in enumerate(c) if n})
