"""Tests of ModelConfig.arity (wylib.model): P(number of distinct elements | space group) first, then kept."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from wylib.likelihood import log_likelihood, row_losses, sequences_of, soft_element_target
from wylib.model import PAD, STOP, ModelConfig, WyckoffTransformer
from wylib.sample import sample
from wylib.train import TrainConfig, Trainer, train

from test_model import sg_features, synthetic
from tiny import assert_cascade_paths_agree, one_thread, tiny_model, tiny_vocab  # noqa: F401

pytestmark = pytest.mark.usefixtures("one_thread")


def arity_cfg(**kw) -> ModelConfig:
    base = dict(n_elements=13, n_site_symmetries=9, n_enumerations=6, n_sg_features=8, n_layer=2, d_head_mlp=32)
    return ModelConfig(**{**base, "arity": True, "element_gate": True, **kw})


def test_off_by_default_and_an_arity_model_needs_the_arity() -> None:
    assert not ModelConfig().arity
    m = WyckoffTransformer(arity_cfg(), sg_features()).eval()
    d = synthetic(4)
    E, S, C = d.element, d.site_symmetry[:, 0], d.enumeration[:, 0]
    k = torch.ones(4, dtype=torch.int64)
    with pytest.raises(ValueError, match="arity"):
        m(d.spacegroup, E, S, C, k, E[:, 1], S[:, 1])
    with pytest.raises(ValueError, match="arity"):
        m.cascade_logits(d.spacegroup, E, S, C, k, 0)
    assert m.arity_logits(d.spacegroup).shape == (4, m.cfg.distinct_max + 1)


def test_arity_of_counts_distinct_real_elements() -> None:
    m = WyckoffTransformer(arity_cfg(), sg_features())
    E = torch.tensor([[5, 5, 6, STOP, PAD, PAD], [5, 6, 7, 8, STOP, PAD], [9, STOP, PAD, PAD, PAD, PAD]])
    assert m.arity_of(E, torch.tensor([3, 4, 1])).tolist() == [2, 4, 1]
    assert m.arity_of(E, torch.tensor([1, 2, 0])).tolist() == [1, 2, 0]  # only the first n_sites count


def test_the_arity_is_kept_no_new_element_after_it_no_stop_before_it() -> None:
    m = WyckoffTransformer(arity_cfg(), sg_features()).eval()
    sg = torch.tensor([3, 3])
    E = torch.tensor([[5, 6, 5], [5, 6, 5]])  # two distinct elements known (n_known = 3)
    S, C = torch.full_like(E, 4), torch.full_like(E, 4)
    nk = torch.tensor([3, 3])
    with torch.no_grad():
        p = torch.softmax(m.cascade_logits(sg, E, S, C, nk, 0, arity=torch.tensor([2, 3])), -1)
    new = [t for t in range(3, 13) if t not in (5, 6)]
    assert float(p[0, new].sum()) < 1e-30 and float(p[0, [5, 6, STOP]].sum()) > 0.5  # arity 2 reached
    assert float(p[1, STOP]) < 1e-30 and float(p[1, new].sum()) > 0.01  # arity 3: one still to come


def test_all_cascade_paths_agree_with_arity() -> None:
    vocab = tiny_vocab(max_sites=8)
    assert_cascade_paths_agree(tiny_model(vocab, 0, n_layer=1, arity=True, element_gate=True), vocab)


@pytest.mark.parametrize("cache_prefix", [True, False])
def test_samples_keep_their_arity_and_the_likelihood_is_exact(cache_prefix: bool) -> None:
    """Sampler log-probs (arity draw included) sum to the teacher-forced likelihood, which computes the arity
    from the tokens: so every finished sample has exactly the arity drawn for it."""
    vocab = tiny_vocab(max_sites=8)
    m = tiny_model(vocab, 1, arity=True, element_gate=True)
    with torch.no_grad():  # arities 2 and 3 likely, as in the data
        m.arity_head[-1].bias[2:4] += 4.0
    res = sample(m, vocab, 80, spacegroups=torch.arange(1, 231)[::2][:80], seed=3, constrained=False,
                 progress=False, cache_prefix=cache_prefix)  # fmt: skip
    keep = torch.nonzero((res.n_sites < vocab.length) & (res.n_sites > 0)).flatten()
    assert len(keep) > 40
    sub = res.subset(keep)
    lp = log_likelihood(m, sequences_of(sub, only_valid=False))
    torch.testing.assert_close(lp, sub.logp_model.sum(1), atol=1e-4, rtol=1e-5)
    arity = m.arity_of(sub.element, sub.n_sites)
    assert set(arity.tolist()) >= {2, 3}


def test_the_arity_loss_is_added_once_per_structure_on_the_first_row() -> None:
    torch.manual_seed(0)
    m = WyckoffTransformer(arity_cfg(), sg_features()).eval()
    d = synthetic(16)
    E, S, C, n = d.element, d.site_symmetry[:, 0], d.enumeration[:, 0], d.n_sites
    arity = m.arity_of(E, n)
    with torch.no_grad():
        for k_val in (0, 1):
            k = torch.full((16,), k_val)
            got = row_losses(m, d.spacegroup, E, S, C, n, k)[:, 0]
            le = m(d.spacegroup, E, S, C, k, E[torch.arange(16), k], S[torch.arange(16), k], arity=arity)[0]
            plain = -(soft_element_target(E, n, k, 13) * F.log_softmax(le, -1)).sum(-1)
            extra = F.cross_entropy(m.arity_logits(d.spacegroup), arity, reduction="none") if k_val == 0 else 0.0
            torch.testing.assert_close(got, plain + extra)
            assert bool(torch.isfinite(got).all())


def test_training_learns_the_arity_distribution(tmp_path: Path) -> None:
    cfg = TrainConfig(max_epochs=8, batch_size=32, lr=3e-3, warmup_steps=5, num_threads=1, val_n_perm=1,
                      test_n_perm=1, patience=100)  # fmt: skip
    data, val = synthetic(96, seed=0), synthetic(32, seed=1)
    fresh = WyckoffTransformer(arity_cfg(), sg_features()).eval()
    train(arity_cfg(), cfg, data, val, tmp_path / "a", sg_features=sg_features(), vocab={"toy": True}, progress=False)
    from wylib.train import load_run

    trained, _, _ = load_run(tmp_path / "a", device="cpu")
    target = fresh.arity_of(data.element, data.n_sites)
    with torch.no_grad():
        ce = [float(F.cross_entropy(x.arity_logits(data.spacegroup), target)) for x in (fresh, trained)]
    assert ce[1] < 0.7 * ce[0], ce
    with pytest.raises(ValueError, match="arity"):
        Trainer(arity_cfg(), TrainConfig(objective="official"), data, val, tmp_path / "o", sg_features(), {"toy": 1})


def test_site_count_feeds_the_number_of_known_sites_to_the_element_head() -> None:
    vocab = tiny_vocab(max_sites=8)
    m = tiny_model(vocab, 0, n_layer=1, arity=True, element_gate=True, site_count=True, site_count_max=6)
    assert m.heads[0][0].in_features == m.cfg.d_model + vocab.n_elements + (8 + 1) + (6 + 1)
    assert_cascade_paths_agree(m, vocab)
    with torch.no_grad():  # only the count input differs: the same prefix read as 2 and as 3 known sites
        m.heads[0][0].weight.zero_()
        m.heads[0][0].weight[:, -16:-9] = torch.randn(16, 7)  # inputs [h, presence, site count, elements to go]
        sg, E = torch.tensor([5, 5]), torch.tensor([[4, 4, 4], [4, 4, 4]])
        S = C = torch.full_like(E, 3)
        logits = m.cascade_logits(sg, E, S, C, torch.tensor([2, 3]), 0, arity=torch.tensor([1, 1]))
    kept = logits[:, [0, 1, 2, 4]]  # service tokens, STOP and the present element (the rest is masked)
    assert float((kept[0] - kept[1]).abs().max()) > 1e-3
