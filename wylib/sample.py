"""Autoregressive sampling of Wyckoff representations (paper section 3.4). Method: docs/model.md."""

from __future__ import annotations

import math
import operator
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import torch
from tqdm.auto import tqdm

from wylib.data import tokenize_split
from wylib.device import resolve_device
from wylib.model import MASK, PAD, STOP, WyckoffTransformer
from wylib.targets import Target, TargetMasks, allowed_groups
from wylib.tokens import WyckoffRepresentation
from wylib.vocab import Vocabulary

REASON_CATEGORIES = (
    "site symmetry absent from group",
    "enumeration invalid",
    "DoF-0 position used twice",
    "service token emitted",
    "no STOP within max length",
    "empty sequence",
    "other",
)


def reason_category(reason: str | None) -> str | None:
    """Map a decoding/validity message (wylib.vocab.decode) to one of REASON_CATEGORIES (None if valid)."""
    if reason is None:
        return None
    for key, cat in (
        ("does not occur in space group", REASON_CATEGORIES[0]),
        ("is not valid for", REASON_CATEGORIES[1]),
        ("no degrees of freedom", REASON_CATEGORIES[2]),
        ("service token", REASON_CATEGORIES[3]),
        ("no STOP", REASON_CATEGORIES[4]),
        ("empty sequence", REASON_CATEGORIES[5]),
    ):
        if key in reason:
            return cat
    return REASON_CATEGORIES[6]


@dataclass
class SampleResult:
    """Sampled sequences, in the EncodedDataset layout (STOP at n_sites in all three fields, PAD after)."""

    spacegroup: torch.Tensor  # (n,)
    element: torch.Tensor  # (n, L)
    site_symmetry: torch.Tensor  # (n, L)
    enumeration: torch.Tensor  # (n, L)
    n_sites: torch.Tensor  # (n,) position of the STOP element; L where no STOP was emitted
    logp: torch.Tensor  # (n, L, 3) log-prob under the distribution sampled from
    logp_model: torch.Tensor  # (n, L, 3) log-prob under the trained model (T = 1, no constraints)
    representations: list[WyckoffRepresentation | None]
    reasons: list[str | None]
    temperature: float = 1.0
    constrained: bool = False
    seed: int = 0
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.spacegroup)

    @property
    def valid(self) -> torch.Tensor:
        """(n,) bool, formally valid."""
        return torch.tensor([r is None for r in self.reasons], dtype=torch.bool)

    @property
    def validity(self) -> float:
        """Share of formally valid samples."""
        return float(self.valid.float().mean()) if len(self) else float("nan")

    def reason_counts(self) -> dict[str, int]:
        """Invalid samples per reason category (the paper's list), zeros included."""
        c = Counter(reason_category(r) for r in self.reasons if r is not None)
        return {cat: c.get(cat, 0) for cat in REASON_CATEGORIES}

    def subset(self, idx: Sequence[int] | torch.Tensor) -> SampleResult:
        idx = torch.as_tensor(idx, dtype=torch.int64)
        tensors = {
            k: getattr(self, k)[idx]
            for k in ("spacegroup", "element", "site_symmetry", "enumeration", "n_sites", "logp", "logp_model")
        }
        il = idx.tolist()
        return SampleResult(
            **tensors,
            representations=[self.representations[i] for i in il],
            reasons=[self.reasons[i] for i in il],
            temperature=self.temperature,
            constrained=self.constrained,
            seed=self.seed,
            meta=dict(self.meta),
        )

    def records(self, vocab: Vocabulary) -> list[dict]:
        """One JSON-serialisable dict per sample: space group, tokens (strings, up to STOP), validity, reason."""
        lists = (
            ["PAD", "MASK", "STOP"] + list(vocab.elements),
            ["PAD", "MASK", "STOP"] + list(vocab.site_symmetries),
            ["PAD", "MASK", "STOP"] + [int(e) for e in vocab.enumerations],
        )
        out = []
        for i in range(len(self)):
            k = min(int(self.n_sites[i]), self.element.shape[1])
            toks = [
                [lists[f][int(t[i, j])] for f, t in enumerate((self.element, self.site_symmetry, self.enumeration))]
                for j in range(k)
            ]
            rep = self.representations[i]
            out.append(
                {
                    "index": i,
                    "spacegroup": int(self.spacegroup[i]),
                    "tokens": toks,
                    "valid": rep is not None,
                    "reason": self.reasons[i],
                    "representation": rep.as_dict() if rep is not None else None,
                    "logp_model": float(self.logp_model[i].sum()),
                }
            )
        return out


def spacegroup_counts(
    dataset: str, splits: Sequence[str] = ("train", "val"), max_structures: int | None = None
) -> torch.Tensor:
    """Counts (231,) of the space groups of the tokenized splits (paper: train+val); index = group number."""
    counts = torch.zeros(231, dtype=torch.float64)
    for split in splits:
        for rep in tokenize_split(dataset, split, max_structures=max_structures).representations:
            counts[rep.spacegroup] += 1
    return counts


def _gumbel_argmax(logits: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Index sampled from softmax(logits) (rows), via the Gumbel-max trick with noise from ``gen`` (CPU)."""
    u = torch.rand(logits.shape, generator=gen).clamp_(min=1e-20).to(logits.device)
    return (logits - torch.log(-torch.log(u))).argmax(-1)


def _draw(
    raw: torch.Tensor, allowed: torch.Tensor | None, temperature: float, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sample from softmax(raw / T) restricted to ``allowed`` -> (token, logp sampled dist, logp model)."""
    raw = raw.float()
    logits = raw / temperature
    if allowed is not None:
        logits = logits.masked_fill(~allowed, float("-inf"))
    lp = torch.log_softmax(logits, -1)
    tok = _gumbel_argmax(lp, gen)
    rows = torch.arange(len(tok), device=tok.device)
    return tok, lp[rows, tok], torch.log_softmax(raw, -1)[rows, tok]


def _draw_kinds(
    raw: torch.Tensor,
    allowed: torch.Tensor | None,
    prefix: torch.Tensor,
    temperature: float,
    kind_temperature: float,
    gen: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Element step in two levels: the kind of the token (STOP, an element absent from `prefix` (b, k), a repeat,
    PAD/MASK) from the model's summed probabilities within ``allowed`` at ``kind_temperature``, then the token
    within its kind from softmax(raw / temperature). At both temperatures 1 this is `_draw`'s distribution (chain
    rule) and, with the same Gumbel noise, `_draw`'s token. -> (token, logp sampled dist, logp model)."""
    raw = raw.float()
    masked = raw if allowed is None else raw.masked_fill(~allowed, float("-inf"))
    kind = torch.ones_like(raw, dtype=torch.int64).scatter_(1, prefix, 2)  # 1 new, 2 repeat
    kind[:, :3] = 3  # PAD, MASK
    kind[:, STOP] = 0
    member = kind[..., None] == torch.arange(4, device=raw.device)  # (b, V, 4)
    ninf = torch.tensor(float("-inf"), device=raw.device)
    mass = torch.logsumexp(torch.where(member, torch.log_softmax(masked, -1)[..., None], ninf), 1)  # (b, 4)
    x = torch.where(member, (masked / temperature)[..., None], ninf)
    within = torch.where(member, torch.nan_to_num(x - torch.logsumexp(x, 1, keepdim=True), nan=-math.inf), ninf)
    lq = (torch.log_softmax(mass / kind_temperature, -1)[:, None, :] + within).gather(2, kind[..., None])[..., 0]
    tok, lp, _ = _draw(lq, None, 1.0, gen)
    return tok, lp, torch.log_softmax(raw, -1)[torch.arange(len(tok), device=tok.device), tok]


class PrefixCache:
    """The prefix of one decoding step encoded once; the three cascade queries then cost one token each."""

    def __init__(
        self,
        model: WyckoffTransformer,
        spacegroup: torch.Tensor,
        sites: torch.Tensor,
        n_known: torch.Tensor,
        arity: torch.Tensor | None = None,
    ):
        self.model, self.spacegroup, self.sites, self.n_known = model, spacegroup, sites, n_known  # sites (B, K, 3)
        self.arity = arity  # (B,) for models with ModelConfig.arity
        B, K, _ = sites.shape
        # (B, 1+K, d)
        x = torch.cat([model.sg_embed(model.sg_features[spacegroup])[:, None], model._embed(sites)], dim=1)
        pos = torch.arange(1 + K, device=x.device)
        self.known = (pos[None] == 0) | (pos[None] - 1 < n_known[:, None])  # (B, 1+K) keys a query may see
        allow = self.known[:, None, :].expand(B, 1 + K, 1 + K)  # as in encode_queries
        self.kv = []
        for block in model.blocks:
            C, nh = x.shape[-1], block.attn.n_head
            _, k, v = block.attn.qkv(x).split(C, dim=2)
            self.kv.append(tuple(t.view(B, 1 + K, nh, C // nh).transpose(1, 2) for t in (k, v)))  # (B, nh, 1+K, hs)
            x = block(x, allow)

    def logits(self, field: int, query: torch.Tensor) -> torch.Tensor:
        """query (B, 3) tokens with MASK in the unknown parts -> logits (B, V_field)."""
        m = self.model
        h = m._embed(query[:, None])  # (B, 1, d)
        B, _, C = h.shape
        # (B, 1, 1, T)
        allow = torch.cat([self.known, torch.ones(B, 1, dtype=torch.bool, device=h.device)], 1)[:, None, None]
        for block, (kp, vp) in zip(m.blocks, self.kv, strict=True):
            nh = block.attn.n_head
            q, k, v = (t.view(B, 1, nh, C // nh).transpose(1, 2) for t in block.attn.qkv(h).split(C, dim=2))
            y = torch.nn.functional.scaled_dot_product_attention(
                q, torch.cat([kp, k], 2), torch.cat([vp, v], 2), attn_mask=allow
            )
            h = block.ln1(h + block.attn.proj(y.transpose(1, 2).reshape(B, 1, C)))
            h = block.ln2(h + block.ff(h))
        return m._head(field, h[:, 0], self.sites, self.n_known, self.spacegroup, query[:, 1], arity=self.arity)

    def subset(self, keep: torch.Tensor) -> PrefixCache:
        new = object.__new__(PrefixCache)
        new.model, new.spacegroup, new.sites = self.model, self.spacegroup[keep], self.sites[keep]
        new.n_known, new.known = self.n_known[keep], self.known[keep]
        new.arity = None if self.arity is None else self.arity[keep]
        new.kv = [(k[keep], v[keep]) for k, v in self.kv]
        return new


def _uncached_logits(
    model: WyckoffTransformer,
    sg: torch.Tensor,
    sites: torch.Tensor,
    nk: torch.Tensor,
    arity: torch.Tensor | None,
    field: int,
    query: torch.Tensor,
) -> torch.Tensor:
    """Logits of one field from the full prefix, without `PrefixCache` (the reference path)."""
    return model.cascade_logits(sg, *sites.unbind(-1), nk, field, query[:, 0], query[:, 1], arity=arity)


@torch.no_grad()
def _sample_batch(
    model: WyckoffTransformer,
    vocab: Vocabulary,
    sg: torch.Tensor,
    temperature: float,
    constrained: bool,
    grammar: dict[str, torch.Tensor] | None,
    gen: torch.Generator,
    cache_prefix: bool = True,
    max_elements: int | None = None,
    target: Target | None = None,
    kind_temperature: float | None = None,
) -> dict[str, torch.Tensor]:
    dev = sg.device
    B, L, M = len(sg), vocab.length, vocab.max_sites
    E, S, C = (torch.full((B, L), PAD, dtype=torch.int64, device=dev) for _ in range(3))
    logp = torch.zeros(B, L, 3, device=dev)
    logp_model = torch.zeros(B, L, 3, device=dev)
    n_sites = torch.full((B,), L, dtype=torch.int64, device=dev)
    active = torch.arange(B, device=dev)
    arity = None
    tm = None if target is None else TargetMasks(target, vocab, grammar, sg.cpu())
    if model.cfg.arity:  # the number of distinct elements first; its log-prob joins position 0's element term
        a_ok = None if tm is None else tm.arity_mask(model.cfg.distinct_max + 1).to(dev)
        t_arity = temperature if kind_temperature is None else kind_temperature
        arity, lp, lpm = _draw(model.arity_logits(sg), a_ok, t_arity, gen)
        logp[:, 0, 0], logp_model[:, 0, 0] = lp, lpm
    if tm is not None:
        tm.set_arity(arity)
    if constrained:
        assert grammar is not None
        ss_ok, en_ok, dof = (grammar[k].to(dev) for k in ("site_symmetry_allowed", "enumeration_allowed", "dof"))
        used = torch.zeros(B, vocab.n_site_symmetries, vocab.n_enumerations, dtype=torch.bool, device=dev)
    for k in range(L):
        if len(active) == 0:
            break
        a_sg, nk = sg[active], torch.full((len(active),), k, dtype=torch.int64, device=dev)
        K = max(k, 1)
        sites = torch.stack([E[active, :K], S[active, :K], C[active, :K]], -1)  # (b, K, 3)
        m = torch.full_like(a_sg, MASK)
        a_ar = None if arity is None else arity[active]
        if cache_prefix:
            cache = PrefixCache(model, a_sg, sites, nk, a_ar)
            step_logits = cache.logits
        else:
            step_logits = partial(_uncached_logits, model, a_sg, sites, nk, a_ar)
        # element
        raw = step_logits(0, torch.stack([m, m, m], -1))
        allowed = None
        if constrained:
            allowed = torch.zeros_like(raw, dtype=torch.bool)
            if k < M:
                allowed[:, 3:] = True
            if k > 0:
                allowed[:, STOP] = True
            if tm is not None:
                allowed &= tm.element_mask(active.cpu()).to(dev)
        if max_elements is not None and k > 0:
            e_allowed = _cap_elements(raw, allowed, E[active, :k], max_elements)
        else:
            e_allowed = allowed
        if kind_temperature is None:
            e, lp, lpm = _draw(raw, e_allowed, temperature, gen)
        else:
            e, lp, lpm = _draw_kinds(raw, e_allowed, E[active, :k], temperature, kind_temperature, gen)
        logp[active, k, 0] += lp
        logp_model[active, k, 0] += lpm
        E[active, k] = e
        stop = e == STOP
        done = active[stop]
        n_sites[done] = k
        S[done, k] = STOP
        C[done, k] = STOP
        keep = ~stop
        active, e, a_sg, nk, sites, m = active[keep], e[keep], a_sg[keep], nk[keep], sites[keep], m[keep]
        if len(active) == 0:
            break
        # both paths now see only the rows that did not stop
        if cache_prefix:
            step_logits = cache.subset(keep).logits
        else:
            step_logits = partial(_uncached_logits, model, a_sg, sites, nk, None if arity is None else arity[active])
        # site symmetry
        raw = step_logits(1, torch.stack([e, m, m], -1))
        if constrained:
            avail = en_ok[a_sg] & ~used[active]  # (b, V_ss, V_en) free positions
            if tm is not None:  # and those that keep the target reachable
                avail &= tm.position_mask(active.cpu(), e.cpu()).to(dev)
            allowed = ss_ok[a_sg] & avail.any(-1)
            assert bool(allowed.any(-1).all()), "a group without a free Wyckoff position (cannot happen)"
        s, lp, lpm = _draw(raw, allowed, temperature, gen)
        S[active, k], logp[active, k, 1], logp_model[active, k, 1] = s, lp, lpm
        # enumeration
        raw = step_logits(2, torch.stack([e, s, m], -1))
        if constrained:
            allowed = avail[torch.arange(len(active), device=dev), s]
        c, lp, lpm = _draw(raw, allowed, temperature, gen)
        C[active, k], logp[active, k, 2], logp_model[active, k, 2] = c, lp, lpm
        if constrained:
            fixed = dof[a_sg, s, c] == 0
            used[active[fixed], s[fixed], c[fixed]] = True
            if tm is not None:
                tm.update(active.cpu(), e.cpu(), grammar["multiplicity"][a_sg.cpu(), s.cpu(), c.cpu()], fixed.cpu())
    return {
        "element": E,
        "site_symmetry": S,
        "enumeration": C,
        "n_sites": n_sites,
        "logp": logp,
        "logp_model": logp_model,
    }


def _cap_elements(
    raw: torch.Tensor, allowed: torch.Tensor | None, prefix: torch.Tensor, max_elements: int
) -> torch.Tensor | None:
    """Element-step mask: rows whose prefix already holds `max_elements` distinct elements may only repeat one
    of them (or stop); other rows keep `allowed`. raw: (b, V_el), prefix: (b, k) element tokens."""
    present = torch.zeros_like(raw, dtype=torch.bool).scatter_(1, prefix, True)  # (b, V_el)
    present[:, :3] = False  # PAD / MASK / STOP are not elements
    full = present.sum(-1) >= max_elements
    if not bool(full.any()):
        return allowed
    out = torch.ones_like(raw, dtype=torch.bool) if allowed is None else allowed.clone()
    out[full, 3:] &= present[full, 3:]
    return out


def _check_sample_args(n: int, temperature: float, batch_size: int) -> None:
    """ValueError naming the argument: n an integer >= 0, batch_size an integer >= 1, temperature a finite
    positive number (NaN or inf would otherwise sample garbage silently)."""
    for name, value, low in (("n", n, 0), ("batch_size", batch_size, 1)):
        try:
            ok = not isinstance(value, bool) and operator.index(value) >= low
        except TypeError:
            ok = False
        if not ok:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    try:
        t = float(temperature)
    except (TypeError, ValueError):
        t = float("nan")
    if not (math.isfinite(t) and t > 0):
        raise ValueError(f"temperature must be a finite positive number, got {temperature!r}")


def sample(
    model: WyckoffTransformer,
    vocab: Vocabulary,
    n: int,
    spacegroups: Sequence[int] | torch.Tensor | None = None,
    spacegroup_distribution: Sequence[float] | torch.Tensor | None = None,
    temperature: float = 1.0,
    constrained: bool = False,
    seed: int = 0,
    batch_size: int = 4096,
    device: str | torch.device = "auto",
    progress: bool = True,
    cache_prefix: bool = True,
    max_elements: int | None = None,
    target: Target | None = None,
    kind_temperature: float | None = None,
) -> SampleResult:
    """Sample n Wyckoff representations (arguments: docs/model.md, `wylib.sample`). With a `target`
    (wylib.targets) decoding is grammar-constrained and every sample obeys it; the space groups are then drawn
    from the distribution given (uniform if none) restricted to the groups in which the target is reachable.
    `kind_temperature` (None: as `temperature`, one draw over all element tokens): the arity and, at each element
    step, the kind of token (STOP, new element, repeat) are drawn at it, the token within its kind at
    `temperature` (`_draw_kinds`; 1 with a low `temperature`: cold samples that stop, studies/chemistry)."""
    _check_sample_args(n, temperature, batch_size)
    if kind_temperature is not None:
        try:
            _check_sample_args(n, kind_temperature, batch_size)
        except ValueError as err:
            raise ValueError(f"kind_temperature: {err}") from None
    groups_ok = None
    if target is not None:
        if max_elements is not None:
            raise ValueError("max_elements and target cannot be combined: give the target's elements instead")
        target.check(vocab, model.cfg.distinct_max if model.cfg.arity else None)
        constrained = True
        groups_ok = allowed_groups(target, vocab, vocab.grammar())
        if not bool(groups_ok.any()):
            raise ValueError(f"no space group can hold the target ({target}; the model: {vocab.max_sites} sites)")
        if spacegroups is None and spacegroup_distribution is None:
            spacegroup_distribution = groups_ok.double()
    if max_elements is not None and (
        isinstance(max_elements, bool) or not isinstance(max_elements, int) or max_elements < 1
    ):
        raise ValueError(f"max_elements must be None or an integer >= 1, got {max_elements!r}")
    gen = torch.Generator().manual_seed(int(seed))
    if spacegroups is not None:
        sg = torch.as_tensor(np.asarray(spacegroups), dtype=torch.int64).flatten()
        if len(sg) != n:
            raise ValueError(f"{len(sg)} space groups given for n={n} samples")
    elif spacegroup_distribution is not None:
        w = torch.as_tensor(np.asarray(spacegroup_distribution, dtype=np.float64)).flatten()
        if (
            len(w) != 231
            or not bool(torch.isfinite(w).all())
            or bool((w < 0).any())
            or float(w[1:].sum()) <= 0
            or float(w[0]) != 0
        ):
            raise ValueError(
                "spacegroup_distribution must hold 231 finite non-negative weights indexed by group "
                "number (index 0 unused) with a positive sum"
            )
        if groups_ok is not None:
            w = w * groups_ok
            if float(w.sum()) <= 0:
                raise ValueError(f"the target ({target}) is reachable in no group of positive weight")
        sg = torch.multinomial(w, n, replacement=True, generator=gen) if n else torch.zeros(0, dtype=torch.int64)
    else:
        raise ValueError("give spacegroups or spacegroup_distribution (e.g. wylib.sample.spacegroup_counts(dataset))")
    if n and (int(sg.min()) < 1 or int(sg.max()) > 230):
        raise ValueError("space group numbers must lie in 1..230")
    if groups_ok is not None and n and not bool(groups_ok[sg].all()):
        raise ValueError(f"space groups {sorted(set(sg[~groups_ok[sg]].tolist()))} cannot hold the target")
    if tuple(model.cfg.vocab_sizes) != tuple(vocab.sizes):
        raise ValueError(f"model vocabulary sizes {model.cfg.vocab_sizes} differ from the vocabulary's {vocab.sizes}")
    dev = resolve_device(str(device))
    was_training = model.training
    model.eval()
    model_dev = next(model.parameters()).device
    if model_dev != dev:
        model.to(dev)
    grammar = vocab.grammar() if constrained else None
    parts: list[dict[str, torch.Tensor]] = []
    try:
        for i in tqdm(
            range(0, n, batch_size), desc=f"sample T={temperature:g}", disable=not progress or n <= batch_size
        ):
            batch = _sample_batch(
                model,
                vocab,
                sg[i : i + batch_size].to(dev),
                float(temperature),
                constrained,
                grammar,
                gen,
                cache_prefix,
                max_elements,
                target,
                kind_temperature,
            )
            parts.append({k: v.cpu() for k, v in batch.items()})
    finally:
        model.train(was_training)
        if model_dev != dev:
            model.to(model_dev)
    L = vocab.length
    out = (
        {k: torch.cat([p[k] for p in parts]) for k in parts[0]}
        if parts
        else {
            "element": torch.zeros(0, L, dtype=torch.int64),
            "site_symmetry": torch.zeros(0, L, dtype=torch.int64),
            "enumeration": torch.zeros(0, L, dtype=torch.int64),
            "n_sites": torch.zeros(0, dtype=torch.int64),
            "logp": torch.zeros(0, L, 3),
            "logp_model": torch.zeros(0, L, 3),
        }
    )
    reps, reasons = [], []
    for i in range(n):
        rep, reason = vocab.decode(
            int(sg[i]), out["element"][i].tolist(), out["site_symmetry"][i].tolist(), out["enumeration"][i].tolist()
        )
        reps.append(rep)
        reasons.append(reason)
    return SampleResult(
        spacegroup=sg,
        **out,
        representations=reps,
        reasons=reasons,
        temperature=float(temperature),
        constrained=constrained,
        seed=int(seed),
        meta={"batch_size": batch_size, "device": str(dev), "max_elements": max_elements}
        | ({} if target is None else {"target": target.as_dict()})
        | ({} if kind_temperature is None else {"kind_temperature": float(kind_temperature)}),
    )
