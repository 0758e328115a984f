"""Tests of studies.chemistry.diagnose: token bookkeeping, training-target masses, teacher-forced rows, samples."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import pytest
import torch

from studies.chemistry.diagnose import (
    CATEGORIES,
    argmax_category,
    category_masses,
    cdf_gaps,
    count_elements,
    distinct_prefix,
    element_rows,
    frequency_ratios,
    leaked_elements,
    next_category,
    prefix_presence,
    reason_step,
    sample_table,
    shares,
    step_table,
    target_masses,
)
from wylib.likelihood import soft_element_target
from wylib.metrics import ks_statistic
from wylib.model import MASK, PAD, STOP
from wylib.sample import sample
from wylib.vocab import Vocabulary

from tiny import ELEMENTS, one_thread, tiny_model, tiny_vocab  # noqa: F401

pytestmark = pytest.mark.usefixtures("one_thread")
LI, OX, NA, MG = (3 + ELEMENTS.index(e) for e in ("Li", "O", "Na", "Mg"))


@pytest.fixture(scope="module")
def vocab() -> Vocabulary:
    return tiny_vocab(max_sites=6)


def seq(*ids: int, length: int = 7) -> list[int]:
    return list(ids) + [PAD] * (length - len(ids))


def random_data(vocab: Vocabulary, n: int, seed: int) -> tuple[torch.Tensor, ...]:
    """Data-like ordered sequences: 1..max_sites real sites (1..3 distinct elements), STOP, PAD; group 221 (Pm-3m)
    with its general position so that every token is real."""
    g = torch.Generator().manual_seed(seed)
    L = vocab.length
    E = torch.full((n, L), PAD)
    nsites = torch.randint(1, vocab.max_sites + 1, (n,), generator=g)
    for i in range(n):
        pool = 3 + torch.randperm(len(ELEMENTS), generator=g)[: int(torch.randint(1, 4, (1,), generator=g))]
        k = int(nsites[i])
        E[i, :k] = pool[torch.randint(0, len(pool), (k,), generator=g)]
        E[i, k] = STOP
    ss_id, en_id = 3 + vocab.site_symmetries.index("1"), 3
    S = torch.where(E >= 3, ss_id, E)
    C = torch.where(E >= 3, en_id, E)
    return torch.full((n,), 221), E, S, C, nsites


def test_prefix_bookkeeping_on_a_handmade_sequence():
    E = torch.tensor([seq(LI, OX, LI, NA, STOP), seq(OX, MASK, OX, STOP)])
    cats = [[CATEGORIES[i] for i in row] for row in next_category(E).tolist()]
    assert cats[0][:6] == ["new", "new", "repeat", "new", "stop", "service"]
    assert cats[1][:4] == ["new", "service", "repeat", "stop"]
    assert distinct_prefix(E).tolist()[0] == [0, 1, 2, 2, 3, 3, 3]
    assert distinct_prefix(E).tolist()[1][:4] == [0, 1, 1, 1]  # MASK is not an element
    pres = prefix_presence(E, 12)
    assert pres.shape == (2, 7, 12)
    assert pres[0, 3].nonzero().flatten().tolist() == [LI, OX] and not pres[0, 0].any()


def test_target_masses_are_the_soft_training_target_summed_per_category(vocab):
    _, E, _, _, n = random_data(vocab, 200, seed=1)
    V = vocab.n_elements
    pres = prefix_presence(E, V)
    for k in range(vocab.length):
        rows = torch.nonzero(n >= k).flatten()
        kk = torch.full((len(rows),), k)
        soft = soft_element_target(E[rows], n[rows], kk, V).double()
        expected = category_masses(soft, pres[rows, k])[:, :3]
        assert torch.allclose(target_masses(E[rows], n[rows], kk), expected, atol=1e-12)
    assert float(target_masses(E, n, n)[:, 2].min()) == 1.0  # STOP at the end


def test_target_masses_nan_where_nothing_real_remains():
    E = torch.tensor([seq(LI, PAD, STOP)])
    t = target_masses(E, torch.tensor([2]), torch.tensor([1]))
    assert torch.isnan(t[0, :2]).all()
    t0 = target_masses(E, torch.tensor([2]), torch.tensor([0]))
    assert t0[0].tolist() == [1.0, 0.0, 0.0]  # Li is new at k = 0, PAD is not counted


def test_category_masses_and_argmax():
    probs = torch.tensor([[0.01, 0.02, 0.30, 0.40, 0.07, 0.20], [0.0, 0.0, 0.1, 0.2, 0.3, 0.4]], dtype=torch.float64)
    present = torch.tensor([[0, 0, 0, 0, 1, 1], [0, 0, 0, 1, 1, 0]], dtype=torch.bool)
    m = category_masses(probs, present)
    assert torch.allclose(m, torch.tensor([[0.40, 0.27, 0.30, 0.03], [0.4, 0.5, 0.1, 0.0]], dtype=torch.float64))
    assert [CATEGORIES[i] for i in argmax_category(probs, present).tolist()] == ["new", "new"]
    probs[0, STOP] = 0.9
    probs[1, 4] = 0.9
    assert [CATEGORIES[i] for i in argmax_category(probs, present).tolist()] == ["stop", "repeat"]


def test_element_rows_on_data_match_the_model_and_the_target(vocab):
    model = tiny_model(vocab, seed=2, n_layer=1)
    sg, E, S, C, n = random_data(vocab, 60, seed=3)
    steps = element_rows(model, sg, E, S, C, n, batch_size=17)
    rows = steps.rows
    assert len(rows) == int((n + 1).sum())  # every position k = 0..n of every structure
    assert np.allclose(rows[[f"p_{c}" for c in CATEGORIES]].sum(axis=1), 1.0, atol=1e-6)
    assert np.allclose(rows[["target_new", "target_repeat", "target_stop"]].sum(axis=1), 1.0)
    new = rows.next == "new"
    assert (rows.d_prefix <= rows.d_total).all() and (rows.d_prefix[new] < rows.d_total[new]).all()
    r = rows.iloc[41]
    i, k = int(r.structure), int(r.k)
    with torch.no_grad():
        p = torch.softmax(
            model.cascade_logits(
                sg[i : i + 1],
                E[i : i + 1, : max(k, 1)],
                S[i : i + 1, : max(k, 1)],
                C[i : i + 1, : max(k, 1)],
                torch.tensor([k]),
                0,
            ),
            -1,
        )[0].double()
    present = torch.zeros(vocab.n_elements, dtype=torch.bool)
    present[E[i, :k]] = True
    assert r.p_stop == pytest.approx(float(p[STOP]), abs=1e-6)
    assert r.p_new == pytest.approx(float(p[3:][~present[3:]].sum()), abs=1e-6)
    for d in range(len(steps.absent_mass)):  # absent mass per element sums to p_new per d
        assert steps.absent_mass[d].sum() == pytest.approx(rows[rows.d_prefix == d].p_new.sum(), rel=1e-6)
    tab = step_table(rows, ["d_prefix"])
    assert tab.n_rows.sum() == len(rows) and tab.loc[tab.d_prefix == 0, "data_new"].item() == 1.0


def test_element_rows_reproduce_the_free_sampler_distribution(vocab):
    """Teacher forcing a sampled sequence gives the distribution the sampler drew from (STOP log-prob)."""
    model = tiny_model(vocab, seed=4, n_layer=1)
    with torch.no_grad():
        model.heads[0][-1].bias[STOP] += 2.0
    groups = torch.randint(1, 231, (300,), generator=torch.Generator().manual_seed(0))
    res = sample(model, vocab, 300, spacegroups=groups, constrained=False, seed=5, progress=False)
    steps = element_rows(model, res.spacegroup, res.element, res.site_symmetry, res.enumeration, res.n_sites)
    stops = steps.rows[steps.rows.next == "stop"]
    assert len(stops) > 20
    sampled = res.logp_model[torch.tensor(stops.structure.to_numpy()), torch.tensor(stops.k.to_numpy()), 0].exp()
    assert np.allclose(sampled.numpy(), stops.p_stop.values, atol=1e-5)
    clean = (res.element >= 3) & (res.site_symmetry >= 3) & (res.enumeration >= 3)
    dirty = ~clean.all(1) & (res.n_sites < vocab.length)
    assert bool(dirty.any())  # some samples carry service tokens: their later rows are skipped
    for i in torch.nonzero(dirty).flatten()[:10].tolist():
        first_bad = int((~clean[i]).nonzero()[0])
        assert steps.rows[steps.rows.structure == i].k.max() == first_bad


def test_element_rows_reject_bad_input(vocab):
    model = tiny_model(vocab, seed=0, n_layer=1)
    sg, E, S, C, n = random_data(vocab, 4, seed=0)
    with pytest.raises(ValueError, match="shapes differ"):
        element_rows(model, sg, E, S[:, :3], C, n)
    E2 = E.clone()
    E2[0, 0] = vocab.n_elements
    with pytest.raises(ValueError, match="outside the model's vocabulary"):
        element_rows(model, sg, E2, S, C, n)
    with pytest.raises(ValueError, match="unknown columns"):
        step_table(pd.DataFrame({"k": [0], "next": ["new"]}), ["nope"])


def test_leaked_elements():
    absent = np.zeros((4, 3 + len(ELEMENTS)))
    absent[3, LI], absent[3, MG] = 1.0, 3.0
    out = leaked_elements(absent, 3, ELEMENTS, top=2)
    assert out.element.tolist() == ["Mg", "Li"] and out.share.tolist() == [0.75, 0.25]
    assert len(leaked_elements(absent, 7, ELEMENTS)) == 0


def test_reason_step_on_real_decoder_messages(vocab):
    ss = {s: 3 + vocab.site_symmetries.index(s) for s in ("1", "m-3m")}
    _, bad_ss = vocab.decode(
        2, [LI, OX, STOP], [3 + vocab.site_symmetries.index("-1"), ss["m-3m"], STOP], [3, 3, STOP]
    )  # group 2 (P-1) has no m-3m site
    assert bad_ss is not None and reason_step(bad_ss, 7) == 1
    _, service = vocab.decode(1, [LI, OX, MASK, STOP], [ss["1"]] * 3 + [STOP], [3, 3, 3, STOP])
    assert reason_step(service, 7) == 2
    _, no_stop = vocab.decode(1, [LI] * 7, [ss["1"]] * 7, [3] * 7)
    assert reason_step(no_stop, 7) == 7
    _, empty = vocab.decode(1, [STOP], [STOP], [STOP])
    assert reason_step(empty, 7) == 0
    assert reason_step(None, 7) is None and reason_step("something else", 7) is None


def test_sample_table_counts_distinct_elements_before_stop():
    E = torch.tensor([seq(LI, OX, STOP, NA), seq(LI, LI, LI, LI, LI, LI, LI), seq(MG, STOP)])
    tab = sample_table(E, torch.tensor([2, 7, 1]), [None, "site 6: no STOP", "site 0: unknown element 'X'"])
    assert tab.n_distinct.tolist() == [2, 1, 1] and tab.valid.tolist() == [True, False, False]
    assert tab.step.tolist()[0] is None or np.isnan(tab.step.tolist()[0])
    with pytest.raises(ValueError, match="reasons"):
        sample_table(E, torch.tensor([2, 7, 1]), [None])


def test_cdf_gaps_give_the_ks_statistic():
    rng = np.random.default_rng(0)
    a, b = rng.integers(1, 6, 300), rng.integers(2, 4, 200)
    gaps = cdf_gaps(a, b)
    assert gaps.gap.abs().max() == pytest.approx(ks_statistic(a, b))
    assert gaps.cdf_generated.iloc[-1] == 1.0 and gaps.cdf_reference.iloc[-1] == 1.0
    assert shares([2, 3, 3, 5], [2, 3, 4]).tolist() == [0.25, 0.5, 0.0]


def test_frequency_ratios_and_counts():
    df = frequency_ratios({"Al": 3.0, "O": 1.0}, {"Al": 1.0, "O": 2.0, "F": 1.0})
    assert df.element.tolist() == ["Al", "O", "F"]
    assert df.ratio.tolist() == pytest.approx([3.0, 0.5, 0.0])
    assert frequency_ratios({"Al": 1.0}, {"Al": 99.0, "Xe": 1.0}, min_share=0.05).element.tolist() == ["Al"]
    with pytest.raises(ValueError, match="positive total"):
        frequency_ratios({}, {"Al": 1.0})
    E = torch.tensor([seq(LI, OX, LI, STOP), seq(NA, STOP)])
    assert count_elements(E, torch.tensor([3, 1]), ELEMENTS) == Counter({"Li": 2, "O": 1, "Na": 1})
    assert count_elements(E, torch.tensor([3, 1]), ELEMENTS, keep=torch.tensor([False, True])) == Counter({"Na": 1})
