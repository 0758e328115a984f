"""Tests of wylib.likelihood: agreement with the sampler's own step log-probs, KL = 0 for an invariant model,
Table 2. The token-renumbering forensics are tested in test_table2_forensics.py."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from wylib.likelihood import (
    log_likelihood,
    loglik_row,
    mean_ci,
    permutation_kl,
    permute,
    permuted_log_likelihood,
    sequences_of,
    summarize_sets,
    table2,
    write_table,
)
from wylib.model import PAD, STOP
from wylib.sample import sample
from wylib.vocab import Vocabulary

from tiny import one_thread, short_model, tiny_samples, tiny_vocab  # noqa: F401

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def vocab() -> Vocabulary:
    return tiny_vocab(max_sites=6)


@pytest.fixture(scope="module")
def model(vocab):
    return short_model(vocab)


@pytest.fixture(scope="module")
def generated(model, vocab):
    return tiny_samples(model, vocab)


@pytest.mark.parametrize("constrained,temperature", [(True, 1.0), (False, 1.0), (True, 0.3)])
def test_log_likelihood_equals_sum_of_sampler_step_logprobs(model, vocab, constrained, temperature):
    res = sample(
        model,
        vocab,
        64,
        spacegroups=torch.arange(1, 231)[::3][:64],
        seed=1,
        constrained=constrained,
        temperature=temperature,
        progress=False,
    )
    has_stop = res.n_sites < vocab.length
    seq = (
        sequences_of(res, only_valid=False)
        if bool(has_stop.all())
        else sequences_of(res.subset(torch.nonzero(has_stop).flatten()), only_valid=False)
    )
    lp = log_likelihood(model, seq)  # (N, 3): element, site symmetry, enumeration
    ref = res.logp_model[has_stop]
    assert len(seq) > 10
    assert torch.allclose(lp, ref.sum(1), atol=1e-4)  # per field
    if not constrained and temperature == 1.0:  # T = 1, no mask: the sampled distribution is the model's
        assert torch.allclose(lp.sum(-1), res.logp[has_stop].sum((1, 2)), atol=1e-4)


def test_sequences_of_sample_result_keeps_valid_only(model, vocab):
    res = sample(model, vocab, 40, spacegroups=torch.arange(1, 41), seed=2, constrained=False, progress=False)
    seq = sequences_of(res)
    assert len(seq) == int(res.valid.sum())
    if not bool(res.valid.all()) and bool((res.n_sites >= vocab.length).any()):
        with pytest.raises(ValueError, match="STOP"):
            sequences_of(res, only_valid=False)


def test_sequences_of_encoded_dataset(vocab):
    from wylib.tokens import WyckoffRepresentation

    reps = [
        WyckoffRepresentation.from_tokens(225, [("Na", "m-3m", 0), ("Cl", "m-3m", 1)]),
        WyckoffRepresentation.from_tokens(221, [("Ti", "m-3m", 0), ("Mg", "m-3m", 1), ("O", "4/mm.m", 0)]),
    ]
    data = vocab.encode(reps)
    seq0, seq1 = sequences_of(data, 0), sequences_of(data, 1)
    assert seq0.site_symmetry.shape == seq0.element.shape == (2, vocab.length)
    assert torch.equal(seq0.n_sites, torch.tensor([2, 3]))
    assert bool((data.n_variants >= 2).all())  # rock salt: 4a <-> 4b
    assert not torch.equal(seq0.enumeration, seq1.enumeration)


def test_permute_keeps_the_multiset_and_stop(generated):
    seq = sequences_of(generated)
    P = 5
    perm = permute(seq, P, seed=3)
    assert len(perm) == P * len(seq)
    for p in range(P):
        for i in range(0, len(seq), 7):
            j, n = p * len(seq) + i, int(seq.n_sites[i])
            a = sorted(zip(*(t[i, :n].tolist() for t in seq[1:4]), strict=True))
            b = sorted(zip(*(t[j, :n].tolist() for t in perm[1:4]), strict=True))
            assert a == b and perm.element[j, n] == STOP and bool((perm.element[j, n + 1 :] == PAD).all())
    assert not torch.equal(perm.element[: len(seq)], perm.element[len(seq) : 2 * len(seq)])
    assert torch.equal(permute(seq, P, seed=3).element, perm.element)  # seeded


def test_invariant_model_gives_zero_kl(vocab, generated):
    """Heads that ignore their input (constant distributions) make log p independent of the site order."""
    m = short_model(vocab, seed=4)
    with torch.no_grad():
        for head in m.heads:
            head[0].weight.zero_()
    seq = sequences_of(generated)
    lp = log_likelihood(m, seq).sum(-1)
    pp = permuted_log_likelihood(m, seq, n_permutations=6, seed=0)
    kl = permutation_kl(lp, pp)
    assert abs(kl.kl) < 1e-4 and kl.mean_std_over_permutations < 1e-4
    assert kl.entropy > 0 and kl.n_sequences == len(seq) and kl.n_permutations == 6


def test_order_dependent_model_gives_nonzero_spread(model, generated):
    seq = sequences_of(generated)
    lp = log_likelihood(model, seq).sum(-1)
    pp = permuted_log_likelihood(model, seq, n_permutations=4, seed=0)
    kl = permutation_kl(lp, pp)
    assert kl.mean_std_over_permutations > 1e-3
    assert kl.kl_low <= kl.kl <= kl.kl_high and kl.entropy_low <= kl.entropy <= kl.entropy_high


def test_statistics_helpers(tmp_path):
    m, lo, hi = mean_ci(np.array([1.0, 2.0, 3.0, 4.0]))
    assert m == 2.5 and lo < m < hi and np.isclose(hi - m, 1.959963984540054 * np.std([1, 2, 3, 4], ddof=1) / 2)
    assert np.isnan(mean_ci([])[0]) and np.isnan(mean_ci([1.0])[1])
    lp = torch.tensor([-10.0, -20.0])
    pp = torch.tensor([[-11.0, -20.0], [-13.0, -22.0]])
    kl = permutation_kl(lp, pp)
    assert np.isclose(kl.kl, (2.0 + 1.0) / 2) and np.isclose(kl.entropy, 15.0)
    assert np.isclose(kl.mean_std_over_permutations, np.mean([np.std([-11, -13], ddof=1), np.std([-20, -22], ddof=1)]))
    with pytest.raises(ValueError, match="P, N"):
        permutation_kl(lp, pp[:, :1])
    row = loglik_row("x", lp, pp)
    assert row["neg_mean_logp"] == 15.0 and np.isclose(row["std_logp"], np.std([10, 20], ddof=1))
    assert np.isclose(row["neg_mean_logp_permuted"], 16.5)
    df = table2([row, loglik_row("y", lp, n_sites=torch.tensor([2, 4]))])
    assert np.isnan(df.loc[1, "mean_std_over_permutations"]) and np.isnan(df.loc[0, "mean_sites"])
    assert df.loc[1, "mean_sites"] == 3.0 and df.loc[1, "neg_mean_logp_per_site"] == 5.0
    paths = write_table(df, tmp_path / "results" / "table2")
    assert [p.name for p in paths] == ["table2.csv", "table2.md"] and "neg_mean_logp" in paths[1].read_text()


def test_summarize_sets(model, generated):
    seq = sequences_of(generated)
    df, raw = summarize_sets(model, {"a": seq, "b": seq.subset(torch.arange(10))}, n_permutations=3)
    assert list(df.dataset) == ["a", "b"] and list(df.n) == [len(seq), 10]
    assert df.loc[0, "mean_sites"] == pytest.approx(float(seq.n_sites.float().mean()))
    assert raw["a"]["logp_perm"].shape == (3, len(seq))
    assert torch.allclose(raw["b"]["logp"], raw["a"]["logp"][:10], atol=1e-4)
    with pytest.raises(ValueError, match="n_permutations"):
        permuted_log_likelihood(model, seq, n_permutations=0)
