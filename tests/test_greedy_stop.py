"""The kind-tempered sampler of studies/chemistry/greedy_stop.py: the two-level distribution, the T = 1 identity,
and cold samples that stop where the plain argmax never does."""

from __future__ import annotations

import math

import pytest
import torch

from studies.chemistry.greedy_stop import drawn_arity, element_kinds, kind_logprobs, sample_kinds
from wylib.model import STOP
from wylib.sample import sample

from tiny import one_thread, tiny_model, tiny_vocab  # noqa: F401

pytestmark = pytest.mark.usefixtures("one_thread")


def test_kind_logprobs_is_the_two_level_distribution():
    g = torch.Generator().manual_seed(0)
    raw = torch.randn(6, 11, generator=g) * 3
    present = torch.zeros(6, 11, dtype=torch.bool)
    present[:, [4, 7]] = True
    kind = element_kinds(present, "stop_new_repeat")
    assert kind[0].tolist() == [3, 3, 0, 1, 2, 1, 1, 2, 1, 1, 1]
    # at T = 1 on both levels: the model's own distribution (chain rule)
    assert torch.allclose(kind_logprobs(raw, kind, 1.0, 1.0), torch.log_softmax(raw, -1), atol=1e-5)
    for t, kt in ((0.01, 1.0), (0.5, 0.01), (2.0, 0.3)):
        lq = kind_logprobs(raw, kind, t, kt)
        q = lq.exp()
        assert torch.allclose(q.sum(-1), torch.ones(6), atol=1e-5)
        p = torch.softmax(raw, -1)
        mass = torch.stack([(p * (kind == c)).sum(-1) for c in range(4)], -1)
        want = torch.softmax(mass.log() / kt, -1)
        got = torch.stack([(q * (kind == c)).sum(-1) for c in range(4)], -1)
        assert torch.allclose(got, want, atol=1e-5)  # the kind's probability
        within = torch.where(kind == 1, raw / t, -math.inf).softmax(-1)
        got_within = torch.where(kind == 1, lq, -math.inf).softmax(-1)  # in log space: the kind may underflow
        assert torch.allclose(got_within, within, atol=1e-4)  # the token within its kind
    # a kind whose tokens are all masked gets probability 0, no NaN
    masked = raw.clone()
    masked[:, STOP] = -math.inf
    out = kind_logprobs(masked, kind, 0.1, 1.0)
    assert not torch.isnan(out).any() and bool((out[:, STOP] == -math.inf).all())


@pytest.mark.parametrize("arity", [False, True])
def test_kind_sampler_at_t1_gives_wylib_samples(arity):
    vocab = tiny_vocab(max_sites=8)
    m = tiny_model(vocab, 3, arity=arity)
    w = torch.ones(231, dtype=torch.float64)
    w[0] = 0
    plain = sample(m, vocab, 150, spacegroup_distribution=w, seed=4, progress=False, device="cpu")
    ours = sample_kinds(m, vocab, 150, w, 1.0, 1.0, "stop_new_repeat", 1.0 if arity else None, seed=4)
    for f in ("spacegroup", "element", "site_symmetry", "enumeration", "n_sites"):
        assert torch.equal(getattr(plain, f), getattr(ours, f)), f
    assert torch.allclose(plain.logp, ours.logp, atol=1e-4)
    assert "_head" not in m.__dict__ and "arity_logits" not in m.__dict__  # the methods are back
    if arity:
        sg, a = drawn_arity(m, w, 150, 1.0, 4)
        assert torch.equal(sg, plain.spacegroup)
        stopped = plain.n_sites < vocab.length
        assert torch.equal(m.arity_of(plain.element, plain.n_sites)[stopped], a[stopped])


def split_vote_model(vocab):
    """Element logits that do not depend on the input: arity 2 always; Li 0.25, each other element 0.1, STOP 1.0
    (unnormalised). With Li placed and one element still due, STOP is masked and the single repeat Li (0.26)
    beats every single new element (0.105), although a new one has 0.74 in all: the default model's cause."""
    m = tiny_model(vocab, 0, arity=True)
    with torch.no_grad():
        last = m.heads[0][-1]
        last.weight.zero_()
        last.bias.fill_(math.log(0.1))
        last.bias[:2] = -30.0  # PAD, MASK
        last.bias[STOP] = 0.0
        last.bias[3 + vocab.elements.index("Li")] = math.log(0.25)
        m.arity_head[-1].weight.zero_()
        m.arity_head[-1].bias.fill_(-30.0)
        m.arity_head[-1].bias[2] = 0.0
    return m


def test_kind_sampler_stops_where_the_argmax_does_not():
    vocab = tiny_vocab(max_sites=20)
    m = split_vote_model(vocab)
    w = torch.ones(231, dtype=torch.float64)
    w[0] = 0
    L = vocab.length
    cold = sample(m, vocab, 100, spacegroup_distribution=w, temperature=0.01, seed=0, progress=False, device="cpu")
    assert bool((cold.n_sites == L).all())  # plain argmax: Li repeated, the second element never comes
    li = 3 + vocab.elements.index("Li")
    assert bool((cold.element == li).all())
    # STOP against the rest does not help: STOP is masked while an element is due
    two = sample_kinds(m, vocab, 100, w, 0.01, 1.0, "stop", seed=0)
    assert bool((two.n_sites == L).all())
    # the kind (STOP / new / repeat) drawn from the model: every sample places its second element and stops
    ours = sample_kinds(m, vocab, 100, w, 0.01, 1.0, "stop_new_repeat", seed=0)
    assert bool((ours.n_sites < L).all())
    assert bool((m.arity_of(ours.element, ours.n_sites) == 2).all())


def test_library_kind_temperature_makes_cold_samples_stop():
    """wylib.sample(kind_temperature=1) on the committed model: at T = 0.01 the plain sampler leaves about a fifth of
    the samples without STOP (studies/chemistry/results/greedy_stop.md), the kind-tempered one below 1 %; unset,
    nothing changes at T = 1."""
    from wylib.sample import spacegroup_counts
    from wylib.train import load_run

    model, vocab, _ = load_run("runs/default", device="cpu")
    prior = spacegroup_counts("mp_20_biternary_open")
    kw = dict(spacegroup_distribution=prior, seed=0, device="cpu", progress=False)
    plain = sample(model, vocab, 400, temperature=0.01, **kw)
    fixed = sample(model, vocab, 400, temperature=0.01, kind_temperature=1.0, **kw)
    no_stop = [float((r.n_sites >= vocab.length).float().mean()) for r in (plain, fixed)]
    assert no_stop[0] > 0.1 and no_stop[1] < 0.01, no_stop
    assert fixed.meta["kind_temperature"] == 1.0
    a, b = sample(model, vocab, 200, **kw), sample(model, vocab, 200, kind_temperature=1.0, **kw)
    assert torch.equal(a.element, b.element) and torch.equal(a.site_symmetry, b.site_symmetry)
    with pytest.raises(ValueError, match="kind_temperature"):
        sample(model, vocab, 2, kind_temperature=0.0, **kw)
