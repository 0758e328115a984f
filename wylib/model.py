"""The WyckoffTransformer (Kazeev et al. 2024), all of it in this one file. Method: docs/model.md."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from wylib.element_features import N_ELEMENT_FEATURES

PAD, MASK, STOP = 0, 1, 2
MAX_COUNT = 8  # the arity head and its one-hot cover 0..MAX_COUNT distinct elements (ModelConfig.distinct_max)
GAIN_SCALE = 10.0  # grammar gain = GAIN_SCALE x parameter (why: docs/model.md)
# logit of element tokens that would break the sampled arity (finite, so that 0 x log p stays 0 in the soft target)
ARITY_MASK = -1e4
FIELDS = ("element", "site_symmetry", "enumeration")
# measured, rejected and removed (docs/model.md, code at commit 0e4900e); a saved config may name them, switched off
RETIRED_SWITCHES = ("distinct_count", "stop_count", "composition_element_only")
# ModelConfig.default(): the committed runs/default model (tests/test_model.py checks it against its config.json)
DEFAULT_MODEL = dict(
    n_elements=88,
    n_site_symmetries=81,
    n_enumerations=11,
    n_sg_features=99,
    element_gate=True,
    grammar_bias=True,
    arity=True,
    site_count=True,
    element_features=True,
    element_features_embed=False,
    composition=True,
)


@dataclass
class ModelConfig:
    """All sizes and switches of the model; field defaults: the paper's MP-20 model (`paper`); ours: `default`."""

    n_elements: int = 92  # vocabulary sizes, including the 3 service tokens
    n_site_symmetries: int = 75
    n_enumerations: int = 11
    n_sg_features: int = 97  # width of the space-group feature vector
    d_element: int = 16  # embedding widths; their sum is d_model
    d_site_symmetry: int = 16
    d_enumeration: int = 8
    n_layer: int = 3
    n_head: int = 4
    d_ff: int = 128
    d_head_mlp: int = 90  # hidden width of the cascade MLP heads
    dropout: float = 0.2
    distinct_max: int = MAX_COUNT  # arity: 0..distinct_max distinct elements, larger counts clipped
    element_gate: bool = False  # element head adds learned offsets to present / absent elements' logits
    grammar_bias: bool = False  # site-symmetry / enumeration heads add gain x availability (Wyckoff tables)
    arity: bool = False  # P(number of distinct elements | space group) first; element head reads elements to go
    site_count: bool = False  # element head also reads one-hot(number of known sites, 0..site_count_max, clipped)
    site_count_max: int = 20
    element_features: bool = False  # fixed element descriptors (wylib.element_features) in embedding and element head
    n_element_features: int = N_ELEMENT_FEATURES  # their width
    composition: bool = False  # every head reads the atom shares by element of the known sites (and mean descriptor)
    element_features_embed: bool = True  # with element_features: also in the token embedding (False: element head only)

    @property
    def d_model(self) -> int:
        return self.d_element + self.d_site_symmetry + self.d_enumeration

    @property
    def vocab_sizes(self) -> tuple[int, int, int]:
        return (self.n_elements, self.n_site_symmetries, self.n_enumerations)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
        """A saved configuration (config.json "model"); `RETIRED_SWITCHES` may be there if off."""
        if on := [k for k in RETIRED_SWITCHES if d.get(k)]:
            raise ValueError(f"this model uses {on}, switches removed from wylib; check out commit 0e4900e to load it")
        return cls(**{k: v for k, v in d.items() if k not in RETIRED_SWITCHES})

    @classmethod
    def paper(cls, **overrides) -> ModelConfig:
        """The paper's model: its MP-20 sizes and heads (every switch off), = ``ModelConfig()``."""
        return cls(**overrides)

    @classmethod
    def default(cls, **overrides) -> ModelConfig:
        """The project's model, = the committed runs/default configuration (`DEFAULT_MODEL` over the paper's)."""
        return cls(**{**DEFAULT_MODEL, **overrides})


class SelfAttention(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        assert cfg.d_model % cfg.n_head == 0
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.n_head, self.dropout = cfg.n_head, cfg.dropout

    def forward(self, x: torch.Tensor, allow: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))  # (B, nh, T, hs)
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=allow[:, None], dropout_p=self.dropout if self.training else 0.0
        )
        return self.proj(y.transpose(1, 2).reshape(B, T, C))


class Block(nn.Module):
    """Post-norm Transformer encoder layer (as torch.nn.TransformerEncoderLayer, norm_first=False)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.attn = SelfAttention(cfg)
        self.ln1, self.ln2 = nn.LayerNorm(cfg.d_model), nn.LayerNorm(cfg.d_model)
        self.ff = nn.Sequential(
            nn.Linear(cfg.d_model, cfg.d_ff), nn.ReLU(), nn.Dropout(cfg.dropout), nn.Linear(cfg.d_ff, cfg.d_model)
        )
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor, allow: torch.Tensor) -> torch.Tensor:
        x = self.ln1(x + self.drop(self.attn(x, allow)))
        return self.ln2(x + self.drop(self.ff(x)))


def head_mlp(d_in: int, d_hidden: int, d_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(d_in, d_hidden), nn.ReLU(), nn.Linear(d_hidden, d_hidden), nn.ReLU(), nn.Linear(d_hidden, d_out)
    )


class WyckoffTransformer(nn.Module):
    def __init__(
        self,
        cfg: ModelConfig,
        sg_features: torch.Tensor | None = None,
        grammar: dict[str, torch.Tensor] | None = None,
        element_features: torch.Tensor | None = None,
    ):
        super().__init__()
        self.cfg = cfg
        if sg_features is None:  # filled by load_state_dict
            sg_features = torch.zeros(231, cfg.n_sg_features)
        assert sg_features.shape == (231, cfg.n_sg_features), sg_features.shape
        self.register_buffer("sg_features", sg_features.float().clone())
        if cfg.grammar_bias:  # Wyckoff tables by token id (wylib.vocab.Vocabulary.grammar); zeros until loaded
            shape = (231, cfg.n_site_symmetries, cfg.n_enumerations)
            allowed = torch.zeros(shape, dtype=torch.bool) if grammar is None else grammar["enumeration_allowed"]
            dof0 = torch.zeros(shape, dtype=torch.bool) if grammar is None else grammar["dof"] == 0
            assert allowed.shape == shape and dof0.shape == shape, (allowed.shape, shape)
            self.register_buffer("position_allowed", allowed.clone())
            self.register_buffer("position_dof0", dof0.clone())
            self.grammar_gain = nn.Parameter(torch.zeros(2))  # site symmetry, enumeration; x GAIN_SCALE
        if cfg.element_features:  # descriptors by element token id; zeros until loaded
            shape = (cfg.n_elements, cfg.n_element_features)
            table = torch.zeros(shape) if element_features is None else element_features.float()
            assert table.shape == shape, (table.shape, shape)
            self.register_buffer("element_table", table.clone())
            if cfg.element_features_embed:
                self.element_feature_embed = nn.Linear(cfg.n_element_features, cfg.d_element, bias=False)
        if cfg.composition:  # multiplicity of (group, site symmetry, enumeration) by token id, 0 where none
            shape = (231, cfg.n_site_symmetries, cfg.n_enumerations)
            mult = torch.zeros(shape) if grammar is None else grammar["multiplicity"].clamp(min=0).float()
            assert mult.shape == shape, (mult.shape, shape)
            self.register_buffer("position_multiplicity", mult.clone())
        self.sg_embed = nn.Linear(cfg.n_sg_features, cfg.d_model)
        dims = (cfg.d_element, cfg.d_site_symmetry, cfg.d_enumeration)
        self.embed = nn.ModuleList([nn.Embedding(v, d) for v, d in zip(cfg.vocab_sizes, dims, strict=True)])
        self.mixer = nn.Linear(cfg.d_model, cfg.d_model, bias=False)
        self.blocks = nn.ModuleList([Block(cfg) for _ in range(cfg.n_layer)])
        # count one-hots feed the element head only: elements still to bring in (arity), known sites (site_count)
        comp = (cfg.n_elements + cfg.n_element_features * int(cfg.element_features)) * int(cfg.composition)
        extra = (
            (cfg.distinct_max + 1) * int(cfg.arity)
            + (cfg.site_count_max + 1) * int(cfg.site_count)
            + cfg.n_element_features * int(cfg.element_features)
            + comp,
            comp,
            comp,
        )
        if cfg.arity:  # P(arity | space group), arity 0..distinct_max
            self.arity_head = head_mlp(cfg.n_sg_features, cfg.d_head_mlp, cfg.distinct_max + 1)
        if cfg.element_features:  # low-rank element logits: u(head input) . descriptor
            self.element_feature_query = nn.Linear(cfg.d_model + cfg.n_elements + extra[0], cfg.n_element_features)
        gate = (2 if cfg.element_gate else 0, 0, 0)  # (present, absent) offsets out of the element head
        self.heads = nn.ModuleList(
            [
                head_mlp(cfg.d_model + v + x, cfg.d_head_mlp, v + g)
                for v, x, g in zip(cfg.vocab_sizes, extra, gate, strict=True)
            ]
        )

    def n_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def _embed(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens (B, T, 3) -> (B, T, d_model)"""
        parts = [emb(tokens[..., f]) for f, emb in enumerate(self.embed)]
        if self.cfg.element_features and self.cfg.element_features_embed:
            parts[0] = parts[0] + self.element_feature_embed(self.element_table[tokens[..., 0]])
        return self.mixer(torch.cat(parts, dim=-1))

    def encode_queries(
        self, spacegroup: torch.Tensor, sites: torch.Tensor, n_known: torch.Tensor, queries: torch.Tensor
    ) -> torch.Tensor:
        """spacegroup (B,), sites (B, K, 3), n_known (B,), queries (B, Q, 3) -> encoder output at queries (B, Q, d)."""
        B, K, _ = sites.shape
        Q = queries.shape[1]
        x = torch.cat(
            [self.sg_embed(self.sg_features[spacegroup])[:, None], self._embed(torch.cat([sites, queries], dim=1))],
            dim=1,
        )  # (B, T, d), T = 1 + K + Q
        pos = torch.arange(1 + K + Q, device=x.device)
        # (B, T): the space group and the first n_known sites of the prefix
        key_known = (pos[None] == 0) | ((pos[None] >= 1) & (pos[None] <= K) & (pos[None] - 1 < n_known[:, None]))
        is_q = pos >= 1 + K
        allow = key_known[:, None, :] | (is_q[:, None] & (pos[:, None] == pos[None, :]))[None]  # (B, T, T)
        for block in self.blocks:
            x = block(x, allow)
        return x[:, 1 + K :]

    @staticmethod
    def presence(tokens: torch.Tensor, n_known: torch.Tensor, vocab_size: int) -> torch.Tensor:
        """Multi-hot (B, V) of the real tokens among the first n_known entries of tokens (B, K)."""
        known = torch.arange(tokens.shape[1], device=tokens.device)[None] < n_known[:, None]
        pres = torch.zeros(tokens.shape[0], vocab_size, device=tokens.device)
        pres.scatter_(1, torch.where(known, tokens, PAD), 1.0)
        pres[:, :3] = 0.0
        return pres

    def composition_of(self, spacegroup: torch.Tensor, sites: torch.Tensor, n_known: torch.Tensor) -> torch.Tensor:
        """(B, V_element) share of the atoms of the first n_known sites by element (ModelConfig.composition)."""
        known = (torch.arange(sites.shape[1], device=sites.device)[None] < n_known[:, None]) & (sites > STOP).all(-1)
        mult = self.position_multiplicity[spacegroup[:, None], sites[..., 1], sites[..., 2]] * known
        atoms = torch.zeros(sites.shape[0], self.cfg.n_elements, device=sites.device, dtype=mult.dtype)
        atoms.scatter_add_(1, torch.where(known, sites[..., 0], PAD), mult)
        return atoms / atoms.sum(-1, keepdim=True).clamp(min=1.0)

    def arity_logits(self, spacegroup: torch.Tensor) -> torch.Tensor:
        """Logits (B, distinct_max + 1) of the number of distinct elements given the space group (B,)."""
        return self.arity_head(self.sg_features[spacegroup])

    def arity_of(self, element: torch.Tensor, n_sites: torch.Tensor) -> torch.Tensor:
        """Distinct real elements (B,) among the first n_sites tokens of element (B, L): the arity target."""
        return self.presence(element, n_sites, self.cfg.n_elements).sum(-1).long()

    def free_positions(self, spacegroup: torch.Tensor, sites: torch.Tensor, n_known: torch.Tensor) -> torch.Tensor:
        """(B, V_ss, V_en) bool: positions of the group not excluded by the known sites (a DoF-0 one used once)."""
        B, K, _ = sites.shape
        n_en = self.cfg.n_enumerations
        known = (torch.arange(K, device=sites.device)[None] < n_known[:, None]) & (sites[..., 1:] > STOP).all(-1)
        flat = torch.where(known, sites[..., 1] * n_en + sites[..., 2], 0)  # (B, K); 0 = (PAD, PAD), never allowed
        used = torch.zeros(B, self.cfg.n_site_symmetries * n_en, dtype=torch.bool, device=sites.device)
        used = used.scatter(1, flat, True).view(B, -1, n_en)
        return self.position_allowed[spacegroup] & ~(used & self.position_dof0[spacegroup])

    def _head(
        self,
        field: int,
        h: torch.Tensor,
        sites: torch.Tensor,
        n_known: torch.Tensor,
        spacegroup: torch.Tensor,
        query_site_symmetry: torch.Tensor,
        free: torch.Tensor | None = None,
        arity: torch.Tensor | None = None,
        share: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Logits of one cascade field; `free`, `share`: `free_positions`, `composition_of` if computed."""
        pres = self.presence(sites[..., field], n_known, self.cfg.vocab_sizes[field])  # (B, V_field)
        feats = [h, pres]
        if field == 0 and self.cfg.element_features:  # summed descriptors of the elements present
            feats.append(pres @ self.element_table)
        if field == 0 and self.cfg.site_count:  # attention averages, so the encoder cannot count the known sites
            n = n_known.clamp(0, self.cfg.site_count_max)
            feats.append(F.one_hot(n, self.cfg.site_count_max + 1).to(h.dtype))
        if self.cfg.composition:
            if share is None:
                share = self.composition_of(spacegroup, sites, n_known)
            feats += [share, share @ self.element_table] if self.cfg.element_features else [share]
        to_go = None
        if field == 0 and self.cfg.arity:
            if arity is None:
                raise ValueError("this model has an arity head (ModelConfig.arity): give the arity of every row")
            to_go = (arity - pres.sum(-1).long()).clamp(0, self.cfg.distinct_max)
            feats.append(F.one_hot(to_go, self.cfg.distinct_max + 1).to(h.dtype))
        x = torch.cat(feats, dim=-1)
        out = self.heads[field](x)
        if field == 0 and self.cfg.element_features:
            feature_logits = self.element_feature_query(x) @ self.element_table.T  # service rows are zero
            out = out + F.pad(feature_logits, (0, out.shape[1] - feature_logits.shape[1]))
        if field == 0 and self.cfg.element_gate:
            out, a, b = out[:, :-2], out[:, -2:-1], out[:, -1:]
            absent = torch.ones_like(pres)
            absent[:, :3] = 0.0  # service tokens get no offset
            out = out + a * pres + b * (absent - pres)
        if to_go is not None:  # the arity is kept: no new element once it is reached, no STOP before
            new = torch.ones_like(pres, dtype=torch.bool)
            new[:, :3] = False
            new &= pres == 0
            stop = torch.zeros_like(new)
            stop[:, STOP] = True
            out = out.masked_fill((new & (to_go == 0)[:, None]) | (stop & (to_go > 0)[:, None]), ARITY_MASK)
        elif field >= 1 and self.cfg.grammar_bias:
            if free is None:
                free = self.free_positions(spacegroup, sites, n_known)  # (B, V_ss, V_en)
            rows = torch.arange(len(free), device=free.device)
            avail = free.any(-1) if field == 1 else free[rows, query_site_symmetry]
            out = out + GAIN_SCALE * self.grammar_gain[field - 1] * avail.to(out.dtype)
        return out

    def forward(
        self,
        spacegroup: torch.Tensor,
        element: torch.Tensor,
        site_symmetry: torch.Tensor,
        enumeration: torch.Tensor,
        n_known: torch.Tensor,
        query_element: torch.Tensor,
        query_site_symmetry: torch.Tensor,
        arity: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Logits of the 3 cascade fields of the token at n_known (teacher-forced; `arity` as in `_head`)."""
        sites = torch.stack([element, site_symmetry, enumeration], dim=-1)  # (B, K, 3)
        m = torch.full_like(query_element, MASK)
        queries = torch.stack(
            [
                torch.stack([m, m, m], -1),
                torch.stack([query_element, m, m], -1),
                torch.stack([query_element, query_site_symmetry, m], -1),
            ],
            dim=1,
        )  # (B, 3, 3)
        h = self.encode_queries(spacegroup, sites, n_known, queries)  # (B, 3, d)
        free = self.free_positions(spacegroup, sites, n_known) if self.cfg.grammar_bias else None  # fields 1 and 2
        share = self.composition_of(spacegroup, sites, n_known) if self.cfg.composition else None  # all fields
        return tuple(
            self._head(f, h[:, f], sites, n_known, spacegroup, query_site_symmetry, free, arity, share)
            for f in range(3)
        )

    def cascade_logits(
        self,
        spacegroup: torch.Tensor,
        element: torch.Tensor,
        site_symmetry: torch.Tensor,
        enumeration: torch.Tensor,
        n_known: torch.Tensor,
        field: int,
        query_element: torch.Tensor | None = None,
        query_site_symmetry: torch.Tensor | None = None,
        arity: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Logits (B, V_field) of one cascade step; one query token, for sampling (`arity` as in forward)."""
        sites = torch.stack([element, site_symmetry, enumeration], dim=-1)
        m = torch.full_like(spacegroup, MASK)
        qe = query_element if field >= 1 else m
        qs = query_site_symmetry if field >= 2 else m
        if qe is None or qs is None:
            raise ValueError(f"cascade field {field} needs the query parts before it")
        h = self.encode_queries(spacegroup, sites, n_known, torch.stack([qe, qs, m], -1)[:, None])
        return self._head(field, h[:, 0], sites, n_known, spacegroup, qs, arity=arity)
