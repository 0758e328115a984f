"""Tests of wylib.likelihood: agreement with the sampler's own step log-probs, KL = 0 for an invariant model,
Table 2."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from wylib.likelihood import (
    authors_trainer_reference,
    log_likelihood,
    loglik_row,
    mean_ci,
    paper_table2,
    paper_table2_comparability,
    permutation_kl,
    permute,
    permuted_log_likelihood,
    renumber,
    renumbered_log_likelihood,
    renumbering_comparison,
    renumbering_table,
    sequences_of,
    summarize_sets,
    table2,
    token_renumbering,
    write_table,
)
from wylib.model import PAD, STOP, WyckoffTransformer
from wylib.sample import sample
from wylib.vocab import Vocabulary

from tiny import ELEMENTS, one_thread, tiny_model, tiny_vocab  # noqa: F401

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def vocab() -> Vocabulary:
    return tiny_vocab(max_sites=6)


def make_model(vocab: Vocabulary, seed: int = 0) -> WyckoffTransformer:
    m = tiny_model(vocab, seed)
    with torch.no_grad():  # shorter sequences than a plain random init
        m.heads[0][-1].bias[STOP] += 1.5
    return m


@pytest.fixture(scope="module")
def model(vocab):
    return make_model(vocab)


@pytest.fixture(scope="module")
def generated(model, vocab):
    return sample(model, vocab, 96, spacegroups=torch.arange(1, 231)[::2][:96], seed=5, progress=False)


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
    m = make_model(vocab, seed=4)
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


def test_multiclass_element_target(model, vocab):
    from wylib.tokens import WyckoffRepresentation

    same = WyckoffRepresentation.from_tokens(1, [("O", "1", 0)] * 3)  # one element only: target = the token
    mixed = WyckoffRepresentation.from_tokens(1, [("O", "1", 0), ("Na", "1", 0), ("Na", "1", 0)])
    seq = sequences_of(vocab.encode([same, mixed]))
    tok, multi = log_likelihood(model, seq), log_likelihood(model, seq, "multiclass")
    assert torch.allclose(tok[0], multi[0], atol=1e-5)
    assert torch.allclose(tok[:, 1:], multi[:, 1:], atol=1e-5)  # site symmetry, enumeration unchanged
    assert not torch.allclose(tok[1, 0], multi[1, 0])
    with pytest.raises(ValueError, match="element_target"):
        log_likelihood(model, seq, "soft")


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
    assert list(paper_table2().neg_mean_logp) == [499.0, 93.0, 92.8, 17.0, 12.9]


def test_summarize_sets(model, generated):
    seq = sequences_of(generated)
    df, raw = summarize_sets(model, {"a": seq, "b": seq.subset(torch.arange(10))}, n_permutations=3)
    assert list(df.dataset) == ["a", "b"] and list(df.n) == [len(seq), 10]
    assert df.loc[0, "mean_sites"] == pytest.approx(float(seq.n_sites.float().mean()))
    assert raw["a"]["logp_perm"].shape == (3, len(seq))
    assert torch.allclose(raw["b"]["logp"], raw["a"]["logp"][:10], atol=1e-4)
    with pytest.raises(ValueError, match="n_permutations"):
        permuted_log_likelihood(model, seq, n_permutations=0)


# ----------------------------------------------------------------------------- token renumbering


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny model trained on learnable toy data (tests/test_model.synthetic) and held-out sequences of it."""
    from wylib.train import TrainConfig, load_run, train

    from test_model import sg_features, synthetic, tiny_cfg

    run = tmp_path_factory.mktemp("renumber_run")
    cfg = TrainConfig(
        max_epochs=8, batch_size=32, lr=3e-3, warmup_steps=5, num_threads=1, val_n_perm=1, test_n_perm=1, patience=100
    )
    train(
        tiny_cfg(),
        cfg,
        synthetic(96, seed=0),
        synthetic(32, seed=1),
        run,
        sg_features=sg_features(),
        vocab={"toy": True},
        progress=False,
    )
    return load_run(run, device="cpu")[0], sequences_of(synthetic(64, seed=3))


def test_identity_renumbering_gives_the_normal_scores(model, generated):
    seq = sequences_of(generated)
    fields = ("element", "site_symmetry", "enumeration")
    identity = {f: torch.arange(v) for f, v in zip(fields, model.cfg.vocab_sizes, strict=True)}
    assert torch.equal(renumbered_log_likelihood(model, seq, identity), log_likelihood(model, seq).sum(-1))
    assert torch.equal(renumbered_log_likelihood(model, seq, {}), log_likelihood(model, seq).sum(-1))


def test_renumbering_a_trained_model_makes_nll_worse(trained):
    model, seq = trained
    normal = -float(log_likelihood(model, seq).sum(-1).mean())
    for fields in (("site_symmetry",), ("element", "site_symmetry"), ("element",)):
        maps = token_renumbering(model.cfg.vocab_sizes, fields, seed=0)
        worse = -float(renumbered_log_likelihood(model, seq, maps).mean())
        assert worse > normal + 1.0, (fields, normal, worse)
    table = renumbering_table(model, seq, n_renumberings=2, n_permutations=2)
    assert list(table.renumbered) == ["none"] + ["site symmetry"] * 2 + ["element + site symmetry"] * 2
    assert list(table.renumbering_seed) == [-1, 0, 1, 0, 1] and (table.n == len(seq)).all()
    assert table.loc[0, "neg_mean_logp"] == pytest.approx(normal, abs=1e-5)
    assert (table.neg_mean_logp[1:] > normal + 1.0).all()
    comp = renumbering_comparison(table)
    ours = comp[comp.model == "ours (this run)"].set_index("renumbered")
    assert list(ours.index) == ["none", "site symmetry", "element + site symmetry"]
    assert ours.loc["site symmetry", "neg_mean_logp"] == pytest.approx(table.neg_mean_logp[1:3].mean())
    assert set(comp.model) == {
        "paper's Table 2 (published)",
        "ours (this run)",
        "authors' trainer (external, 2026-11-26)",
    }
    with pytest.raises(ValueError, match="n_renumberings"):
        renumbering_table(model, seq, n_renumberings=0)


def test_token_renumbering_maps(vocab, generated):
    sizes = vocab.sizes
    a = token_renumbering(sizes, ["site_symmetry"], seed=1)
    b = token_renumbering(sizes, ["element", "site_symmetry"], seed=1)
    assert list(a) == ["site_symmetry"] and set(b) == {"element", "site_symmetry"}
    assert torch.equal(a["site_symmetry"], b["site_symmetry"])  # a field's map does not depend on the others
    for name, m in b.items():
        v = sizes[("element", "site_symmetry").index(name)]
        assert torch.equal(m[:3], torch.arange(3)) and torch.equal(m.sort().values, torch.arange(v))
        assert not torch.equal(m, torch.arange(v))
    assert torch.equal(token_renumbering(sizes, ["element"], 1)["element"], b["element"])  # seeded
    assert not torch.equal(token_renumbering(sizes, ["element"], 2)["element"], b["element"])
    seq = sequences_of(generated)
    r = renumber(seq, a)
    assert torch.equal(r.site_symmetry, a["site_symmetry"][seq.site_symmetry])
    assert torch.equal(r.element, seq.element) and torch.equal(r.enumeration, seq.enumeration)
    assert not torch.equal(r.site_symmetry, seq.site_symmetry)
    with pytest.raises(ValueError, match="unknown fields"):
        token_renumbering(sizes, ["spacegroup"])
    with pytest.raises(ValueError, match="vocab_sizes"):
        token_renumbering((3, 10, 10), ["element"])
    with pytest.raises(ValueError, match="unknown field"):
        renumber(seq, {"spacegroup": torch.arange(231)})
    with pytest.raises(ValueError, match="permutation"):
        renumber(seq, {"element": torch.zeros(vocab.n_elements, dtype=torch.int64)})
    with pytest.raises(ValueError, match="service"):
        renumber(seq, {"element": torch.arange(vocab.n_elements).flip(0)})
    with pytest.raises(ValueError, match="outside the map"):
        renumber(seq, {"site_symmetry": torch.arange(5)})


def test_paper_rows_comparability_and_external_reference():
    df = paper_table2_comparability().set_index("dataset")
    assert (df.loc[[d for d in df.index if d.startswith("Generated")], "comparable"] == "yes").all()
    assert list(df.loc[["Test", "Train"], "comparable"]) == ["likely not"] * 2 and df.why.str.len().min() > 10
    ref = authors_trainer_reference().set_index(["dataset", "renumbered"])
    assert ref.loc[("Test", "none"), "neg_mean_logp"] == 24.99
