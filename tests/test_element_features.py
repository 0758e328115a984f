"""Tests of ModelConfig.element_features: fixed element descriptors in the embedding and the element head."""

from __future__ import annotations

import pytest
import torch

from wylib.element_features import N_ELEMENT_FEATURES, OXIDATION_STATES, element_descriptor, element_feature_matrix
from wylib.model import ModelConfig, WyckoffTransformer
from wylib.train import TrainConfig, Trainer

from test_model import sg_features, synthetic
from tiny import ELEMENTS, assert_cascade_paths_agree, one_thread, tiny_model, tiny_vocab  # noqa: F401

pytestmark = pytest.mark.usefixtures("one_thread")


def test_descriptors_of_known_elements() -> None:
    assert N_ELEMENT_FEATURES == ModelConfig().n_element_features
    o, fe = element_descriptor("O"), element_descriptor("Fe")
    states = [q for q, v in zip(OXIDATION_STATES, fe, strict=False) if v]
    assert states == [2, 3] and [q for q, v in zip(OXIDATION_STATES, o, strict=False) if v] == [-2]
    n = len(OXIDATION_STATES)
    assert o[n + 15] == 1 and sum(o[n : n + 18]) == 1  # group 16
    assert o[n + 18 + 1] == 1 and fe[n + 18 + 3] == 1  # periods 2 and 4
    assert o[n + 25 + 1] == 1 and fe[n + 25 + 2] == 1  # p and d block
    assert o[-2] == pytest.approx(3.44 / 4) and (o[-1], fe[-1]) == (0.0, 1.0)
    assert element_descriptor("Xe")[-2] > 0 and element_descriptor("He")[-2] == 0.0  # no Pauling value: 0
    table = element_feature_matrix(["Li", "O"])
    assert table.shape == (5, N_ELEMENT_FEATURES) and float(table[:3].abs().sum()) == 0.0  # service rows
    with pytest.raises(ValueError, match="unknown element"):
        element_descriptor("Qq")


def test_an_absent_elements_descriptor_moves_only_its_own_element_logit() -> None:
    vocab = tiny_vocab(max_sites=8)
    m = tiny_model(vocab, 0, n_layer=1, element_features=True, element_gate=True)
    assert m.element_table.shape == (vocab.n_elements, N_ELEMENT_FEATURES)
    assert torch.equal(m.element_table, element_feature_matrix(ELEMENTS))
    assert_cascade_paths_agree(m, vocab)
    sg, E = torch.tensor([5, 5]), torch.tensor([[3, 4, 3], [4, 4, 4]])  # Li, O present; Fe (token 10) absent
    S = C = torch.full_like(E, 3)
    args = (sg, E, S, C, torch.tensor([3, 2]), 0)
    with torch.no_grad():
        before = m.cascade_logits(*args)
        m.element_table[10] = torch.rand(N_ELEMENT_FEATURES)
        after = m.cascade_logits(*args)
    diff = (after - before).abs()
    assert float(diff[:, 10].min()) > 1e-4 and float(diff[:, :10].max()) == 0.0
    with torch.no_grad():  # a present element's descriptor also reaches the encoder and the presence sum
        m.element_table[4] = torch.rand(N_ELEMENT_FEATURES)
        moved = m.cascade_logits(*args)
    assert float((moved - after)[:, 3].abs().max()) > 1e-4


def test_state_dict_round_trip_and_the_trainer_needs_a_vocabulary(tmp_path) -> None:
    vocab = tiny_vocab(max_sites=8)
    m = tiny_model(vocab, 0, element_features=True)
    fresh = WyckoffTransformer(m.cfg, sg_features_of(m)).eval()  # zeros until loaded
    fresh.load_state_dict(m.state_dict())
    assert torch.equal(fresh.element_table, m.element_table)
    cfg = ModelConfig(n_elements=13, n_site_symmetries=9, n_enumerations=6, n_sg_features=8, element_features=True)
    with pytest.raises(ValueError, match="element_features"):
        Trainer(cfg, TrainConfig(), synthetic(8), synthetic(4, seed=1), tmp_path, sg_features(), {"toy": 1})


def sg_features_of(m: WyckoffTransformer) -> torch.Tensor:
    return m.sg_features.clone()


def test_composition_is_the_atom_share_of_the_known_sites() -> None:
    from pymatgen.core import Lattice, Structure

    from wylib.tokens import WyckoffRepresentation

    li2o = Structure.from_spacegroup("Fm-3m", Lattice.cubic(4.6), ["O", "Li"], [[0, 0, 0], [0.25, 0.25, 0.25]])
    rep = WyckoffRepresentation.from_structure(li2o)
    assert rep.spacegroup == 225 and sorted(s.multiplicity for s in rep.sites) == [4, 8]
    vocab = tiny_vocab(max_sites=8)
    m = tiny_model(vocab, 0, n_layer=1, composition=True, element_features=True, grammar_bias=True)
    E, S, C = (torch.tensor([t + [3]]) for t in vocab.encode_tokens(rep))  # a third slot, never known
    sg = torch.tensor([225])
    li, o = 3 + ELEMENTS.index("Li"), 3 + ELEMENTS.index("O")
    share = m.composition_of(sg, torch.stack([E, S, C], -1), torch.tensor([2]))
    assert share[0, li] == pytest.approx(2 / 3) and share[0, o] == pytest.approx(1 / 3)
    assert float(share.sum()) == pytest.approx(1.0)
    first = rep.sites[0].element
    one = m.composition_of(sg, torch.stack([E, S, C], -1), torch.tensor([1]))
    assert one[0, 3 + ELEMENTS.index(first)] == 1.0 and float(one.sum()) == 1.0
    empty = m.composition_of(sg, torch.stack([E, S, C], -1), torch.tensor([0]))
    assert float(empty.abs().sum()) == 0.0
    assert_cascade_paths_agree(m, vocab)
    heads = [h[0].in_features for h in m.heads]
    comp = vocab.n_elements + N_ELEMENT_FEATURES
    assert heads[1] == m.cfg.d_model + vocab.n_site_symmetries + comp
    assert heads[2] == m.cfg.d_model + vocab.n_enumerations + comp


def test_element_features_kept_out_of_the_embedding_leave_the_encoder_alone() -> None:
    vocab = tiny_vocab(max_sites=8)
    m = tiny_model(vocab, 0, n_layer=1, element_features=True, element_features_embed=False, composition=True)
    assert not hasattr(m, "element_feature_embed")
    assert_cascade_paths_agree(m, vocab)
    sg, E = torch.tensor([5, 5]), torch.tensor([[3, 4, 3], [4, 4, 4]])  # Li and O present
    S = C = torch.full_like(E, 3)
    q = torch.full((2, 1, 3), 1)  # a MASK query
    with torch.no_grad():
        h0, e0 = (
            m.encode_queries(sg, torch.stack([E, S, C], -1), torch.tensor([3, 2]), q),
            m.cascade_logits(sg, E, S, C, torch.tensor([3, 2]), 0),
        )
        m.element_table[3:5] = torch.rand(2, N_ELEMENT_FEATURES)  # the present elements' descriptors
        h1, e1 = (
            m.encode_queries(sg, torch.stack([E, S, C], -1), torch.tensor([3, 2]), q),
            m.cascade_logits(sg, E, S, C, torch.tensor([3, 2]), 0),
        )
    assert torch.equal(h0, h1)  # the encoder never reads them
    assert float((e1 - e0).abs().max()) > 1e-4  # the element head does
    with_embed = tiny_model(vocab, 0, n_layer=1, element_features=True, composition=True)
    assert m.n_params() == with_embed.n_params() - N_ELEMENT_FEATURES * m.cfg.d_element
