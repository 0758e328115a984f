"""Vocabularies and integer encoding of Wyckoff representations. Method: docs/model.md."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np
import torch
from pymatgen.core import Element

from wylib.symmetry import all_site_symmetries, max_enumeration, wyckoff_tables
from wylib.tokens import WyckoffRepresentation, formal_validity_error

PAD, MASK, STOP = 0, 1, 2
SERVICE = ("PAD", "MASK", "STOP")
N_SERVICE = 3
FIELDS = ("element", "site_symmetry", "enumeration")


@dataclass
class Vocabulary:
    """Token vocabularies of the three fields; index = position in the list + 3."""

    elements: list[str]
    site_symmetries: list[str]
    enumerations: list[int]
    max_sites: int = 20

    @classmethod
    def from_training(cls, reps: Sequence[WyckoffRepresentation], max_sites: int = 20) -> Vocabulary:
        """Elements from the training representations; symmetry tokens from the tables."""
        elements = sorted({s.element for r in reps for s in r.sites}, key=lambda e: Element(e).Z)
        return cls(elements, all_site_symmetries(), list(range(max_enumeration() + 1)), max_sites)

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, d: dict) -> Vocabulary:
        return cls(
            list(d["elements"]), list(d["site_symmetries"]), [int(e) for e in d["enumerations"]], int(d["max_sites"])
        )

    @property
    def n_elements(self) -> int:
        return len(self.elements) + N_SERVICE

    @property
    def n_site_symmetries(self) -> int:
        return len(self.site_symmetries) + N_SERVICE

    @property
    def n_enumerations(self) -> int:
        return len(self.enumerations) + N_SERVICE

    @property
    def sizes(self) -> tuple[int, int, int]:
        return (self.n_elements, self.n_site_symmetries, self.n_enumerations)

    @property
    def length(self) -> int:
        """Positions per sequence: max_sites sites plus STOP."""
        return self.max_sites + 1

    def _index(self) -> tuple[dict, dict, dict]:
        if not hasattr(self, "_cache"):
            self._cache = tuple(
                {tok: i + N_SERVICE for i, tok in enumerate(lst)}
                for lst in (self.elements, self.site_symmetries, self.enumerations)
            )
        return self._cache

    def encode_tokens(self, rep: WyckoffRepresentation) -> tuple[list[int], list[int], list[int]]:
        """Token ids of one representation's sites; raises ValueError for out-of-vocabulary input."""
        return self._encode_sites(rep.sites)

    def _encode_sites(self, sites) -> tuple[list[int], list[int], list[int]]:
        el_ix, ss_ix, en_ix = self._index()
        if len(sites) > self.max_sites:
            raise ValueError(f"{len(sites)} Wyckoff sites, more than the model's max_sites={self.max_sites}")
        try:
            return (
                [el_ix[s.element] for s in sites],
                [ss_ix[s.site_symmetry] for s in sites],
                [en_ix[s.enumeration] for s in sites],
            )
        except KeyError as err:
            raise ValueError(f"token {err.args[0]!r} is not in the vocabulary") from None

    def decode_tokens(
        self, element: Sequence[int], site_symmetry: Sequence[int], enumeration: Sequence[int]
    ) -> list[tuple]:
        """Ids up to the first STOP -> (element, site symmetry, enumeration) tuples; service tokens raise."""
        out = []
        for e, s, n in zip(element, site_symmetry, enumeration, strict=True):
            e, s, n = int(e), int(s), int(n)
            if e == STOP:
                return out
            if min(e, s, n) < N_SERVICE:
                raise ValueError(f"service token {SERVICE[min(e, s, n)]} inside the sequence at site {len(out)}")
            out.append(
                (self.elements[e - N_SERVICE], self.site_symmetries[s - N_SERVICE], self.enumerations[n - N_SERVICE])
            )
        raise ValueError("no STOP token")

    def decode(
        self, spacegroup: int, element, site_symmetry, enumeration
    ) -> tuple[WyckoffRepresentation | None, str | None]:
        """Decode one sequence; returns (representation, None) or (None, reason it is invalid)."""
        try:
            tokens = self.decode_tokens(element, site_symmetry, enumeration)
        except ValueError as err:
            return None, str(err)
        reason = formal_validity_error(int(spacegroup), tokens)
        if reason:
            return None, reason
        return WyckoffRepresentation.from_tokens(int(spacegroup), tokens), None

    def encode(self, reps: Sequence[WyckoffRepresentation], max_variants: int | None = None) -> EncodedDataset:
        """Encode representations (with all their equivalents) into padded tensors."""
        variants = [r.aligned_equivalents() for r in reps]
        if max_variants:
            variants = [v[:max_variants] for v in variants]
        n, length = len(reps), self.length
        r_max = max((len(v) for v in variants), default=1)
        element = np.zeros((n, length), np.int64)
        ss = np.zeros((n, r_max, length), np.int64)
        en = np.zeros((n, r_max, length), np.int64)
        for i, (rep, vs) in enumerate(zip(reps, variants, strict=True)):
            el_ids, _, _ = self.encode_tokens(rep)
            k = len(el_ids)
            element[i, :k], element[i, k] = el_ids, STOP
            for j in range(r_max):
                sites = vs[j] if j < len(vs) else vs[0]
                _, s_ids, e_ids = self._encode_sites(sites)
                ss[i, j, :k], ss[i, j, k] = s_ids, STOP
                en[i, j, :k], en[i, j, k] = e_ids, STOP
        return EncodedDataset(
            spacegroup=torch.tensor([r.spacegroup for r in reps], dtype=torch.int64),
            element=torch.from_numpy(element),
            site_symmetry=torch.from_numpy(ss),
            enumeration=torch.from_numpy(en),
            n_sites=torch.tensor([r.n_sites for r in reps], dtype=torch.int64),
            n_variants=torch.tensor([len(v) for v in variants], dtype=torch.int64),
        )

    def grammar(self) -> dict[str, torch.Tensor]:
        """Tables for grammar-constrained decoding, indexed by token ids."""
        _, ss_ix, en_ix = self._index()
        v_ss, v_en = self.n_site_symmetries, self.n_enumerations
        allowed_ss = torch.zeros(231, v_ss, dtype=torch.bool)
        allowed_en = torch.zeros(231, v_ss, v_en, dtype=torch.bool)
        dof = torch.full((231, v_ss, v_en), -1, dtype=torch.int64)
        mult = torch.full((231, v_ss, v_en), -1, dtype=torch.int64)
        for number, table in wyckoff_tables().items():
            for wp in table.positions:
                s, e = ss_ix[wp.site_symmetry], en_ix[wp.enumeration]
                allowed_ss[number, s] = True
                allowed_en[number, s, e] = True
                dof[number, s, e] = wp.dof
                mult[number, s, e] = wp.multiplicity
        return {
            "site_symmetry_allowed": allowed_ss,
            "enumeration_allowed": allowed_en,
            "dof": dof,
            "multiplicity": mult,
        }


@dataclass
class EncodedDataset:
    """A split as padded integer tensors (layout: docs/model.md, `wylib.vocab`)."""

    spacegroup: torch.Tensor  # (N,)
    element: torch.Tensor  # (N, L)
    site_symmetry: torch.Tensor  # (N, R, L)
    enumeration: torch.Tensor  # (N, R, L)
    n_sites: torch.Tensor  # (N,)
    n_variants: torch.Tensor  # (N,)

    def __len__(self) -> int:
        return len(self.spacegroup)

    def subset(self, idx) -> EncodedDataset:
        idx = torch.as_tensor(idx, dtype=torch.int64) if not isinstance(idx, slice) else idx
        return EncodedDataset(**{f.name: getattr(self, f.name)[idx] for f in fields(self)})

    def to(self, device) -> EncodedDataset:
        return EncodedDataset(**{f.name: getattr(self, f.name).to(device) for f in fields(self)})

    def permuted(self, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Fresh random site order and equivalent representation per structure -> element, ss, enum (N, L), on CPU."""
        n = self.n_sites.cpu()
        N, L = self.element.shape
        pos = torch.arange(L)
        keys = torch.rand(N, L, generator=gen)
        keys = torch.where(pos[None] < n[:, None], keys, 2.0 + pos[None].float())  # tail keeps its order
        perm = keys.argsort(dim=1)
        v = (torch.rand(N, generator=gen) * self.n_variants.cpu()).long().clamp(max=self.site_symmetry.shape[1] - 1)
        rows = torch.arange(N)
        ss, en = self.site_symmetry.cpu()[rows, v], self.enumeration.cpu()[rows, v]
        return tuple(t.gather(1, perm) for t in (self.element.cpu(), ss, en))


def draw_seed(seed: int, i: int) -> int:
    """Seed of the i-th random draw (training round i, scoring permutation i) of a run seeded with ``seed``."""
    return (seed * 1_000_003 + i * 7919 + 17) % (2**62)
