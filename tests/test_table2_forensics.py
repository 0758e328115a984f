"""Tests of studies.yardstick.table2_forensics: token renumbering, the paper's Table 2 comparability and the
authors'-trainer reference file."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from studies.yardstick.table2_forensics import (
    authors_trainer,
    paper_table2_comparability,
    renumber,
    renumbered_log_likelihood,
    renumbering_comparison,
    renumbering_table,
    token_renumbering,
)
from wylib import paper
from wylib.likelihood import log_likelihood, sequences_of
from wylib.train import TrainConfig, load_run, train

from test_model import sg_features, synthetic, tiny_cfg
from tiny import one_thread, short_model, tiny_samples, tiny_vocab  # noqa: F401

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tiny_set():
    """(vocabulary, tiny random model, sequences it generated), as in test_likelihood."""
    vocab = tiny_vocab(max_sites=6)
    model = short_model(vocab)
    return vocab, model, sequences_of(tiny_samples(model, vocab))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny model trained on learnable toy data (tests/test_model.synthetic) and held-out sequences of it."""
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


def test_identity_renumbering_gives_the_normal_scores(tiny_set):
    _, model, seq = tiny_set
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
        authors_trainer().label,
    }
    with pytest.raises(ValueError, match="n_renumberings"):
        renumbering_table(model, seq, n_renumberings=0)


def test_token_renumbering_maps(tiny_set):
    vocab, _, seq = tiny_set
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
    ext = authors_trainer()
    ref = ext.table.set_index(["dataset", "renumbered"])
    assert ref.loc[("Test", "none"), "neg_mean_logp"] == 24.99 and np.isnan(ref.loc[("Val", "none"), "std_logp"])
    assert ref.loc[("Test", "site symmetry"), "std_logp"] == 41.0 and ref["std_logp"].dtype == float
    assert ext.label == "authors' trainer (external, 2026-11-26)" and "wyckoff-transformer 2.3.0" in ext.source
    assert list(paper.table2().neg_mean_logp) == [499.0, 93.0, 92.8, 17.0, 12.9]
