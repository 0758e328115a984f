"""Tests of ModelConfig.element_gate and ModelConfig.grammar_bias (wylib.model)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from wylib.model import ModelConfig, WyckoffTransformer
from wylib.sample import REASON_CATEGORIES, sample
from wylib.symmetry import spacegroup_table
from wylib.train import TrainConfig, Trainer

from tiny import assert_cascade_paths_agree, one_thread, tiny_model, tiny_vocab  # noqa: F401

pytestmark = pytest.mark.usefixtures("one_thread")


def position_ids(vocab, number: int, letter: str) -> tuple[int, int]:
    """Token ids (site symmetry, enumeration) of Wyckoff position `letter` of group `number`."""
    wp = spacegroup_table(number).by_letter(letter)
    _, ss_ix, en_ix = vocab._index()
    return ss_ix[wp.site_symmetry], en_ix[wp.enumeration]


def test_defaults_are_the_paper_heads() -> None:
    cfg = ModelConfig()
    assert not cfg.element_gate and not cfg.grammar_bias
    m = WyckoffTransformer(cfg, torch.zeros(231, cfg.n_sg_features))
    assert not hasattr(m, "grammar_gain") and "position_allowed" not in m.state_dict()
    assert m.heads[0][-1].out_features == cfg.n_elements


def test_free_positions_rock_salt() -> None:
    """Fm-3m with Na on 4a and Cl on 4b: both DoF-0 positions are taken, 8c (DoF 0) and 24e (DoF 1) stay free."""
    vocab = tiny_vocab(max_sites=8)
    m = tiny_model(vocab, grammar_bias=True)
    a, b, c, e = (position_ids(vocab, 225, x) for x in "abce")
    el = vocab._index()[0]
    sites = torch.tensor([[[el["Na"], *a], [el["Cl"], *b], [el["Na"], *c]]])
    free = m.free_positions(torch.tensor([225]), sites, torch.tensor([2]))[0]  # the third site is not known
    assert not free[a] and not free[b] and free[c] and free[e]
    assert int(free.sum()) == len(spacegroup_table(225).positions) - 2
    free3 = m.free_positions(torch.tensor([225]), sites, torch.tensor([3]))[0]
    assert not free3[c] and free3[e]
    # a general position (DoF 3) is never used up, and a group's table says which pairs exist at all
    general = position_ids(vocab, 225, next(w.letter for w in spacegroup_table(225).positions if w.dof == 3))
    reuse = torch.tensor([[[el["Na"], *general]] * 4])
    assert bool(m.free_positions(torch.tensor([225]), reuse, torch.tensor([4]))[0][general])
    assert torch.equal(m.position_allowed, vocab.grammar()["enumeration_allowed"])


def test_element_gate_offsets_present_and_absent_elements() -> None:
    vocab = tiny_vocab(max_sites=8)
    m = tiny_model(vocab, element_gate=True)
    last = m.heads[0][-1]
    g = torch.Generator().manual_seed(0)
    B, K = 16, 5
    sg = torch.randint(1, 231, (B,), generator=g)
    sites = torch.stack([torch.randint(3, n, (B, K), generator=g) for n in vocab.sizes], -1)
    nk = torch.full((B,), 3)
    args = (sg, *sites.unbind(-1), nk, 0)
    with torch.no_grad():
        ref = m.cascade_logits(*args)
        last.bias[-2] += 1.5  # a: the present elements
        last.bias[-1] -= 40.0  # b: the absent ones
        out = m.cascade_logits(*args)
    pres = WyckoffTransformer.presence(sites[..., 0], nk, vocab.n_elements).bool()
    diff = out - ref
    assert torch.allclose(diff[:, :3], torch.zeros(B, 3))  # PAD, MASK, STOP untouched
    assert torch.allclose(diff[:, 3:][pres[:, 3:]], torch.tensor(1.5))
    assert torch.allclose(diff[:, 3:][~pres[:, 3:]], torch.tensor(-40.0))
    p_absent = (torch.softmax(out, -1) * (~pres).float())[:, 3:].sum(-1)
    assert bool((p_absent < 1e-12).all())


def test_grammar_bias_with_a_large_gain_samples_only_valid_positions() -> None:
    """The availability vectors agree with the decoder's formal-validity check (wylib.tokens), an independent code
    path: with a large gain no sample fails on a site symmetry, an enumeration or a reused DoF-0 position."""
    vocab = tiny_vocab(max_sites=8)
    groups = torch.arange(1, 231)
    kw = dict(spacegroups=groups, seed=3, constrained=False, progress=False)
    m = tiny_model(vocab, grammar_bias=True)
    before = sample(m, vocab, 230, **kw).reason_counts()
    grammar = [REASON_CATEGORIES[i] for i in (0, 1, 2)]
    assert sum(before[r] for r in grammar) > 20  # an untrained model without the gain fails often
    with torch.no_grad():
        m.grammar_gain.fill_(6.0)  # x GAIN_SCALE
    after = sample(m, vocab, 230, **kw).reason_counts()
    assert all(after[r] == 0 for r in grammar), after


def test_all_cascade_paths_agree_with_both_options() -> None:
    vocab = tiny_vocab(max_sites=8)
    m = tiny_model(vocab, 0, n_layer=1, dropout=0.1, element_gate=True, grammar_bias=True)
    with torch.no_grad():
        m.grammar_gain.copy_(torch.tensor([0.2, 0.3]))
    assert_cascade_paths_agree(m, vocab)


def test_tables_travel_in_the_state_dict_and_training_needs_the_vocabulary(tmp_path) -> None:
    vocab = tiny_vocab(max_sites=8)
    m = tiny_model(vocab, grammar_bias=True, element_gate=True)
    fresh = WyckoffTransformer(m.cfg)  # as load_run builds it: tables zero until the state dict is loaded
    assert not bool(fresh.position_allowed.any())
    fresh.load_state_dict(m.state_dict())
    assert torch.equal(fresh.position_allowed, m.position_allowed)
    assert torch.equal(fresh.position_dof0, vocab.grammar()["dof"] == 0)
    cfg = dataclasses.replace(m.cfg)
    with pytest.raises(ValueError, match="needs the vocabulary"):
        Trainer(cfg, TrainConfig(max_epochs=1), None, None, tmp_path / "run", m.sg_features, vocab=None)
