"""Log-likelihood of Wyckoff sequences (paper eq. 2), permutation KL (eq. 3-4), Table 2: docs/metrics.md."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from wylib.model import PAD, STOP, WyckoffTransformer
from wylib.vocab import N_SERVICE, EncodedDataset, draw_seed

Z95 = 1.959963984540054


class Sequences(NamedTuple):
    """Ordered token sequences: spacegroup (N,), element/site_symmetry/enumeration (N, L), n_sites (N,)."""

    spacegroup: torch.Tensor
    element: torch.Tensor
    site_symmetry: torch.Tensor
    enumeration: torch.Tensor
    n_sites: torch.Tensor

    def __len__(self) -> int:
        return len(self.spacegroup)

    def subset(self, idx: Any) -> Sequences:
        idx = torch.as_tensor(idx, dtype=torch.int64)
        return Sequences(*(t[idx] for t in self))


def sequences_of(obj: Any, variant: int = 0, only_valid: bool = True) -> Sequences:
    """Sequences of a SampleResult (formally valid ones if ``only_valid``) or an EncodedDataset (one variant)."""
    if obj.site_symmetry.dim() == 3:  # EncodedDataset: (N, R, L)
        v = torch.clamp(torch.full_like(obj.n_variants, variant), max=obj.site_symmetry.shape[1] - 1)
        rows = torch.arange(len(obj.spacegroup))
        return Sequences(obj.spacegroup, obj.element, obj.site_symmetry[rows, v], obj.enumeration[rows, v], obj.n_sites)
    seq = Sequences(obj.spacegroup, obj.element, obj.site_symmetry, obj.enumeration, obj.n_sites)
    if only_valid and hasattr(obj, "valid"):
        return seq.subset(torch.nonzero(obj.valid).flatten())
    if bool((seq.n_sites >= seq.element.shape[1]).any()):
        raise ValueError("sequences without STOP cannot be scored; pass only_valid=True")
    return seq


def all_rows(n_sites: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """All (structure index, k) with k = 0..n_sites -> two (R,) tensors."""
    counts = n_sites.cpu() + 1
    idx = torch.repeat_interleave(torch.arange(len(counts)), counts)
    start = torch.cumsum(counts, 0) - counts
    return idx, torch.arange(int(counts.sum())) - start[idx]


def soft_element_target(E: torch.Tensor, n: torch.Tensor, k: torch.Tensor, n_elements: int) -> torch.Tensor:
    """Element target (B, V) at k (B,): histogram of the elements of sites k..n-1 of E (B, L), else STOP."""
    B, L = E.shape
    pos = torch.arange(L, device=E.device)[None]
    remaining = ((pos >= k[:, None]) & (pos < n[:, None])).float()
    target = torch.zeros(B, n_elements, dtype=torch.float32, device=E.device).scatter_add_(1, E, remaining)
    target[:, :N_SERVICE] = 0.0
    target[:, STOP] = 1.0 - (k < n).float()
    return target / target.sum(-1, keepdim=True)


def row_losses(
    model: WyckoffTransformer,
    sg: torch.Tensor,
    E: torch.Tensor,
    S: torch.Tensor,
    C: torch.Tensor,
    n: torch.Tensor,
    k: torch.Tensor,
    soft: bool = True,
) -> torch.Tensor:
    """Per-row losses (B, 3) of the token at position k of ordered sequences (B, L) (docs/metrics.md)."""
    B, L = E.shape
    K = max(int(k.max()), 1)
    b = torch.arange(B, device=E.device)
    qe, qs = E[b, k], S[b, k]
    arity = model.arity_of(E, n) if model.cfg.arity else None
    le, ls, lc = model(sg, E[:, :K], S[:, :K], C[:, :K], k, qe, qs, arity=arity)
    has = (k < n).float()
    lpe = F.log_softmax(le.float(), -1)
    if soft:
        loss_e = -(soft_element_target(E, n, k, lpe.shape[-1]) * lpe).sum(-1)
    else:
        loss_e = -lpe[b, qe]
    if arity is not None:  # -log P(arity | space group), once per structure: on its k = 0 row
        loss_a = F.cross_entropy(model.arity_logits(sg).float(), arity, reduction="none")
        loss_e = loss_e + loss_a * (k == 0).float()
    loss_s = F.cross_entropy(ls.float(), torch.where(k < n, qs, PAD), reduction="none") * has
    loss_c = F.cross_entropy(lc.float(), torch.where(k < n, C[b, k], PAD), reduction="none") * has
    return torch.stack([loss_e, loss_s, loss_c], dim=1)


@torch.no_grad()
def sequence_nll_ordered(
    model: WyckoffTransformer,
    spacegroup: torch.Tensor,
    element: torch.Tensor,
    site_symmetry: torch.Tensor,
    enumeration: torch.Tensor,
    n_sites: torch.Tensor,
    batch_size: int = 4096,
) -> torch.Tensor:
    """NLL (N, 3), nats, per structure and field of sequences in their order (emitted elements), eval mode."""
    was_training = model.training
    model.eval()
    dev = next(model.parameters()).device
    idx, k = all_rows(n_sites)
    out = torch.zeros(len(n_sites), 3)
    for i in range(0, len(idx), batch_size):
        bi, bk = idx[i : i + batch_size], k[i : i + batch_size]
        loss = row_losses(
            model,
            *(t[bi].to(dev) for t in (spacegroup, element, site_symmetry, enumeration, n_sites)),
            bk.to(dev),
            soft=False,
        )
        out.index_add_(0, bi, loss.cpu())
    model.train(was_training)
    return out


def sequence_nll(
    model: WyckoffTransformer, data: EncodedDataset, n_perm: int = 1, seed: int = 12345, batch_size: int = 4096
) -> torch.Tensor:
    """NLL (n_perm, N, 3) under n_perm seeded random permutations + equivalent representations."""
    res = []
    for p in range(n_perm):
        E, S, C = data.permuted(torch.Generator().manual_seed(draw_seed(seed, p)))
        res.append(sequence_nll_ordered(model, data.spacegroup.cpu(), E, S, C, data.n_sites.cpu(), batch_size))
    return torch.stack(res)


def nll_summary(nll: torch.Tensor) -> dict[str, float]:
    """Mean NLL per structure (nats), total and per field, from a (n_perm, N, 3) tensor."""
    per = nll.mean(dim=(0, 1))
    return {
        "nll": float(per.sum()),
        "nll_element": float(per[0]),
        "nll_site_symmetry": float(per[1]),
        "nll_enumeration": float(per[2]),
        "nll_std_over_perm": float(nll.sum(-1).std(0).mean()) if len(nll) > 1 else 0.0,
        "n_perm": int(nll.shape[0]),
        "n_structures": int(nll.shape[1]),
    }


def log_likelihood(model: WyckoffTransformer, seq: Sequences, batch_size: int = 4096) -> torch.Tensor:
    """log p per sequence and cascade field (N, 3), nats, in the given order; scored in groups of equal length."""
    out = torch.zeros(len(seq), 3)
    for n in torch.unique(seq.n_sites).tolist():
        idx = torch.nonzero(seq.n_sites == n).flatten()
        sub = seq.subset(idx)
        sub = Sequences(sub.spacegroup, *(t[:, : n + 1] for t in sub[1:4]), sub.n_sites)
        out[idx] = -sequence_nll_ordered(model, *sub, batch_size=batch_size)
    return out


def permute(seq: Sequences, n_permutations: int, seed: int = 0) -> Sequences:
    """n_permutations uniformly random site orders of every sequence, stacked permutation-major (P * N rows)."""
    data = EncodedDataset(
        seq.spacegroup,
        seq.element,
        seq.site_symmetry[:, None],
        seq.enumeration[:, None],
        seq.n_sites,
        torch.ones_like(seq.n_sites),
    )
    gen = torch.Generator().manual_seed(int(seed))
    parts = [data.permuted(gen) for _ in range(n_permutations)]
    return Sequences(
        seq.spacegroup.repeat(n_permutations),
        *(torch.cat([p[f] for p in parts]) for f in range(3)),
        seq.n_sites.repeat(n_permutations),
    )


def permuted_log_likelihood(
    model: WyckoffTransformer,
    seq: Sequences,
    n_permutations: int = 20,
    seed: int = 0,
    batch_size: int = 4096,
) -> torch.Tensor:
    """log p(rho x) (n_permutations, N), summed over fields, for seeded random permutations rho."""
    if n_permutations < 1:
        raise ValueError("n_permutations must be at least 1")
    lp = log_likelihood(model, permute(seq, n_permutations, seed), batch_size).sum(-1)
    return lp.view(n_permutations, len(seq))


def mean_ci(values: np.ndarray | torch.Tensor) -> tuple[float, float, float]:
    """Mean and 95 % normal-approximation interval (mean, low, high); NaN when fewer than 2 values."""
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return (float("nan"),) * 3
    m = float(v.mean())
    if v.size < 2:
        return m, float("nan"), float("nan")
    h = Z95 * float(v.std(ddof=1)) / math.sqrt(v.size)
    return m, m - h, m + h


@dataclass
class PermutationKL:
    """Equations 3 and 4 with 95 % intervals over sequences (nats)."""

    kl: float
    kl_low: float
    kl_high: float
    entropy: float
    entropy_low: float
    entropy_high: float
    mean_std_over_permutations: float
    n_sequences: int
    n_permutations: int

    def to_dict(self) -> dict:
        return asdict(self)


def permutation_kl(logp: torch.Tensor, logp_perm: torch.Tensor) -> PermutationKL:
    """KL and entropy estimates from log p(x) (N,) of generated x and log p(rho x) (P, N)."""
    logp, logp_perm = np.asarray(logp, np.float64), np.asarray(logp_perm, np.float64)
    if logp_perm.ndim != 2 or logp_perm.shape[1] != logp.shape[0]:
        raise ValueError(f"logp_perm must be (P, N) with N = {logp.shape[0]}, got {logp_perm.shape}")
    kl = mean_ci(logp - logp_perm.mean(0))
    h = mean_ci(-logp)
    spread = float(logp_perm.std(0, ddof=1).mean()) if logp_perm.shape[0] > 1 else float("nan")
    return PermutationKL(*kl, *h, spread, int(logp.shape[0]), int(logp_perm.shape[0]))


TABLE2_COLUMNS = (
    "dataset n neg_mean_logp neg_mean_logp_low neg_mean_logp_high std_logp mean_std_over_permutations "
    "neg_mean_logp_permuted mean_sites neg_mean_logp_per_site"
).split()


def loglik_row(
    name: str, logp: torch.Tensor, logp_perm: torch.Tensor | None = None, n_sites: torch.Tensor | None = None
) -> dict:
    """One Table 2 row (`TABLE2_COLUMNS`): -E log p with its interval, its spread, over permutations, and per site."""
    lp = np.asarray(logp, np.float64)
    m, lo, hi = mean_ci(-lp)
    sites = float(np.asarray(n_sites, np.float64).mean()) if n_sites is not None else float("nan")
    row = {
        "dataset": name,
        "n": int(lp.size),
        "neg_mean_logp": m,
        "neg_mean_logp_low": lo,
        "neg_mean_logp_high": hi,
        "std_logp": float(lp.std(ddof=1)) if lp.size > 1 else float("nan"),
        "mean_std_over_permutations": float("nan"),
        "neg_mean_logp_permuted": float("nan"),
        "mean_sites": sites,
        "neg_mean_logp_per_site": m / sites if sites > 0 else float("nan"),
    }
    if logp_perm is not None:
        pp = np.asarray(logp_perm, np.float64)
        if pp.shape[0] > 1:
            row["mean_std_over_permutations"] = float(pp.std(0, ddof=1).mean())
        row["neg_mean_logp_permuted"] = float(-pp.mean())
    return row


def table2(rows: list[dict]) -> pd.DataFrame:
    """Table 2 from `loglik_row` rows (columns `TABLE2_COLUMNS`)."""
    return pd.DataFrame(rows, columns=TABLE2_COLUMNS)


def write_table(df: pd.DataFrame, path_stem: str | Path, floatfmt: str = ".2f") -> list[Path]:
    """Write ``<stem>.csv`` and ``<stem>.md``; returns the paths."""
    stem = Path(path_stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    csv, md = stem.with_suffix(".csv"), stem.with_suffix(".md")
    df.to_csv(csv, index=False)
    md.write_text(df.to_markdown(index=False, floatfmt=floatfmt) + "\n")
    return [csv, md]


def summarize_sets(
    model: WyckoffTransformer,
    sets: Mapping[str, Sequences],
    n_permutations: int = 20,
    seed: int = 0,
    batch_size: int = 4096,
) -> tuple[pd.DataFrame, dict[str, dict]]:
    """Table 2 over named sets, plus the raw arrays {name: {"logp": (N,), "logp_perm": (P, N)}}."""
    rows, raw = [], {}
    for i, (name, seq) in enumerate(sets.items()):
        lp = log_likelihood(model, seq, batch_size).sum(-1)
        pp = permuted_log_likelihood(model, seq, n_permutations, seed + 1000 * i, batch_size)
        rows.append(loglik_row(name, lp, pp, seq.n_sites))
        raw[name] = {"logp": lp, "logp_perm": pp}
    return table2(rows), raw
