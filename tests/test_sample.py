"""Tests of wylib.sample: grammar-constrained validity, unconstrained reasons, determinism, log-probs, errors."""

from __future__ import annotations

import pytest
import torch

from wylib.model import MASK, PAD, STOP, WyckoffTransformer
from wylib.sample import REASON_CATEGORIES, reason_category, sample
from wylib.symmetry import all_site_symmetries, wyckoff_tables
from wylib.tokens import formal_validity_error
from wylib.vocab import Vocabulary

from tiny import ELEMENTS, one_thread, tiny_model, tiny_vocab  # noqa: F401

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def vocab() -> Vocabulary:
    return tiny_vocab(max_sites=8)


def make_model(vocab: Vocabulary, seed: int = 0) -> WyckoffTransformer:
    return tiny_model(vocab, seed, n_layer=1, dropout=0.1)


def bias(model: WyckoffTransformer, field: int, token: int, value: float) -> WyckoffTransformer:
    with torch.no_grad():
        model.heads[field][-1].bias[token] += value
    return model


def no_service(model: WyckoffTransformer) -> WyckoffTransformer:
    """Never emit PAD/MASK, nor STOP as a site symmetry or enumeration."""
    for f in range(3):
        for tok in (PAD, MASK) + ((STOP,) if f else ()):
            bias(model, f, tok, -1e4)
    return model


ALL_GROUPS = torch.arange(1, 231)


def test_every_group_has_a_general_position():
    """The constrained sampler relies on it: a site symmetry with DoF > 0 is never exhausted."""
    assert all(any(wp.dof > 0 for wp in t.positions) for t in wyckoff_tables().values())


def test_constrained_samples_are_all_valid(vocab):
    m = make_model(vocab)
    res = sample(m, vocab, 460, spacegroups=ALL_GROUPS.repeat(2), seed=3, constrained=True, progress=False)
    assert res.validity == 1.0 and all(r is None for r in res.reasons)
    assert res.reason_counts() == {c: 0 for c in REASON_CATEGORIES}
    assert bool((res.n_sites >= 1).all()) and bool((res.n_sites <= vocab.max_sites).all())
    for i in range(len(res)):
        n, rep = int(res.n_sites[i]), res.representations[i]
        assert rep is not None and rep.spacegroup == int(res.spacegroup[i]) and rep.n_sites == n
        assert res.element[i, n] == STOP and res.site_symmetry[i, n] == STOP and res.enumeration[i, n] == STOP
        assert bool((res.element[i, n + 1 :] == PAD).all())
        tokens = vocab.decode_tokens(res.element[i], res.site_symmetry[i], res.enumeration[i])
        assert formal_validity_error(rep.spacegroup, tokens) is None
    # log-probs: nothing recorded after STOP, and none is positive
    assert bool((res.logp <= 1e-6).all()) and bool((res.logp_model <= 1e-6).all())
    pos = torch.arange(vocab.length)[None]
    assert bool((res.logp[..., 0][pos > res.n_sites[:, None]] == 0).all())


def test_constrained_never_reuses_a_dof0_position_and_stops_at_max_length(vocab):
    """A model that wants Na on (m-3m, 0) forever: Fm-3m has two m-3m positions (4a, 4b), both DoF 0."""
    m = make_model(vocab)
    bias(m, 0, STOP, -1e4)
    bias(m, 0, 3 + ELEMENTS.index("Na"), 50.0)
    bias(m, 1, 3 + vocab.site_symmetries.index("m-3m"), 50.0)
    bias(m, 2, 3 + 0, 50.0)
    res = sample(m, vocab, 20, spacegroups=[225] * 20, seed=0, constrained=True, progress=False)
    assert res.validity == 1.0
    assert bool((res.n_sites == vocab.max_sites).all())  # STOP forced at max length
    for rep in res.representations:
        fixed = [s.letter for s in rep.sites if s.dof == 0]
        assert len(fixed) == len(set(fixed)) and {"a", "b"} <= set(fixed)
    free = sample(m, vocab, 20, spacegroups=[225] * 20, seed=0, constrained=False, progress=False)
    assert free.validity == 0.0
    assert free.reason_counts()["DoF-0 position used twice"] + free.reason_counts()["no STOP within max length"] == 20


def test_constrained_never_stops_at_position_zero(vocab):
    m = bias(make_model(vocab), 0, STOP, 50.0)
    res = sample(m, vocab, 30, spacegroups=[1] * 30, seed=0, constrained=True, progress=False)
    assert bool((res.n_sites == 1).all()) and res.validity == 1.0
    free = sample(m, vocab, 30, spacegroups=[1] * 30, seed=0, progress=False)  # free sampling is the default
    assert free.reason_counts()["empty sequence"] == 30


def test_free_sampling_is_the_default(vocab):
    """The study samples freely (the paper's way), and so does `sample` unless told otherwise."""
    m = make_model(vocab)
    default = sample(m, vocab, 50, spacegroups=ALL_GROUPS[:50], seed=4, progress=False)
    free = sample(m, vocab, 50, spacegroups=ALL_GROUPS[:50], seed=4, constrained=False, progress=False)
    assert not default.constrained and torch.equal(default.element, free.element) and default.reasons == free.reasons


def test_unconstrained_reasons(vocab):
    m = bias(make_model(vocab), 0, PAD, 50.0)
    res = sample(m, vocab, 10, spacegroups=[2] * 10, constrained=False, progress=False)
    assert res.validity == 0.0 and res.reason_counts()["service token emitted"] == 10
    assert all(r is None for r in res.representations)
    m = bias(no_service(make_model(vocab)), 1, 3 + vocab.site_symmetries.index("m-3m"), 50.0)
    res = sample(m, vocab, 10, spacegroups=[1] * 10, constrained=False, progress=False)
    c = res.reason_counts()  # the first error found wins; a missing STOP is checked first
    assert c["site symmetry absent from group"] >= 5
    assert c["site symmetry absent from group"] + c["no STOP within max length"] + c["empty sequence"] == 10
    m = bias(no_service(make_model(vocab)), 0, STOP, -1e4)
    res = sample(m, vocab, 10, spacegroups=[1] * 10, constrained=False, progress=False)
    assert bool((res.n_sites == vocab.length).all()) and res.reason_counts()["no STOP within max length"] == 10
    m = bias(bias(no_service(make_model(vocab)), 1, 3 + vocab.site_symmetries.index("1"), 50.0), 2, 3 + 7, 50.0)
    res = sample(m, vocab, 10, spacegroups=[1] * 10, constrained=False, progress=False)
    c = res.reason_counts()
    assert c["enumeration invalid"] >= 5
    assert c["enumeration invalid"] + c["no STOP within max length"] + c["empty sequence"] == 10
    # a random model: validity is the share of decodable, formally valid samples
    res = sample(make_model(vocab), vocab, 100, spacegroups=ALL_GROUPS[:100], constrained=False, seed=1, progress=False)
    assert res.validity == sum(r is not None for r in res.representations) / 100
    assert sum(res.reason_counts().values()) == 100 - int(res.valid.sum())


def test_reason_category():
    assert reason_category(None) is None
    occupied = "site 2: position 4a has no degrees of freedom and is already occupied"
    assert reason_category(occupied) == REASON_CATEGORIES[2]
    assert reason_category("something new") == "other"


def test_deterministic_for_a_seed(vocab):
    m = make_model(vocab)
    w = torch.zeros(231)
    w[[1, 2, 14, 62, 225]] = torch.tensor([1.0, 2.0, 5.0, 3.0, 1.0])
    kw = dict(spacegroup_distribution=w, batch_size=16, constrained=True, progress=False)
    a, b, c = (sample(m, vocab, 40, seed=seed, **kw) for seed in (7, 7, 8))
    for f in ("spacegroup", "element", "site_symmetry", "enumeration", "n_sites", "logp", "logp_model"):
        assert torch.equal(getattr(a, f), getattr(b, f)), f
    assert not torch.equal(a.element, c.element)
    assert set(a.spacegroup.tolist()) <= {1, 2, 14, 62, 225}
    assert a.representations == b.representations


def test_temperature_and_logp(vocab):
    m = make_model(vocab)
    sg = ALL_GROUPS[::4]
    free = sample(m, vocab, len(sg), spacegroups=sg, constrained=False, temperature=1.0, progress=False)
    assert torch.allclose(free.logp, free.logp_model, atol=1e-5)  # T = 1, no mask: same distribution
    con = sample(m, vocab, len(sg), spacegroups=sg, constrained=True, progress=False)
    # masking renormalises: the sampled distribution puts at least as much mass on each sampled token
    assert bool((con.logp >= con.logp_model - 1e-5).all()) and bool((con.logp > con.logp_model + 1e-3).any())
    cold = sample(m, vocab, len(sg), spacegroups=sg, temperature=0.01, constrained=True, progress=False)
    hot = sample(m, vocab, len(sg), spacegroups=sg, temperature=100.0, constrained=True, progress=False)
    assert cold.logp.sum((1, 2)).mean() > con.logp.sum((1, 2)).mean() + 1.0  # near-greedy
    assert hot.logp_model.sum((1, 2)).mean() < con.logp_model.sum((1, 2)).mean()


def test_prefix_cache_matches_cascade_logits(vocab):
    from wylib.sample import PrefixCache

    m = make_model(vocab)
    g = torch.Generator().manual_seed(0)
    B, K = 12, 5
    sg = torch.randint(1, 231, (B,), generator=g)
    sites = torch.stack([torch.randint(3, n, (B, K), generator=g) for n in vocab.sizes], -1)
    nk = torch.randint(0, K + 1, (B,), generator=g)
    q = torch.stack([torch.randint(3, n, (B,), generator=g) for n in vocab.sizes], -1)
    mask = torch.full((B,), MASK)
    cache = PrefixCache(m, sg, sites, nk)
    with torch.no_grad():
        for f, query in enumerate(
            (
                torch.stack([mask] * 3, -1),
                torch.stack([q[:, 0], mask, mask], -1),
                torch.stack([q[:, 0], q[:, 1], mask], -1),
            )
        ):
            ref = m.cascade_logits(sg, *sites.unbind(-1), nk, f, q[:, 0], q[:, 1])
            assert torch.allclose(cache.logits(f, query), ref, atol=1e-5)
        keep = torch.arange(B) % 3 != 0
        ref = m.cascade_logits(sg[keep], *sites[keep].unbind(-1), nk[keep], 1, q[keep, 0])
        query = torch.stack([q[:, 0], mask, mask], -1)[keep]
        assert torch.allclose(cache.subset(keep).logits(1, query), ref, atol=1e-5)
    a = sample(m, vocab, 39, spacegroups=ALL_GROUPS[::6], seed=2, constrained=True, progress=False)
    b = sample(m, vocab, 39, spacegroups=ALL_GROUPS[::6], seed=2, constrained=True, progress=False, cache_prefix=False)
    assert torch.equal(a.element, b.element) and torch.equal(a.enumeration, b.enumeration)
    assert torch.allclose(a.logp_model, b.logp_model, atol=1e-5)


def test_records(vocab):
    res = sample(make_model(vocab), vocab, 5, spacegroups=[225] * 5, constrained=True, progress=False)
    rec = res.records(vocab)
    assert len(rec) == 5 and rec[0]["spacegroup"] == 225 and rec[0]["valid"] is True
    assert len(rec[0]["tokens"]) == int(res.n_sites[0]) and rec[0]["tokens"][0][0] in ELEMENTS
    sub = res.subset([1, 3])
    assert len(sub) == 2 and torch.equal(sub.element[1], res.element[3])


def test_errors(vocab):
    m = make_model(vocab)
    with pytest.raises(ValueError, match="spacegroup"):
        sample(m, vocab, 3, progress=False)
    with pytest.raises(ValueError, match="temperature"):
        sample(m, vocab, 3, spacegroups=[1, 2, 3], temperature=0.0, progress=False)
    with pytest.raises(ValueError, match="2 space groups"):
        sample(m, vocab, 3, spacegroups=[1, 2], progress=False)
    with pytest.raises(ValueError, match="1..230"):
        sample(m, vocab, 2, spacegroups=[0, 231], progress=False)
    with pytest.raises(ValueError, match="231"):
        sample(m, vocab, 2, spacegroup_distribution=[1.0] * 230, progress=False)
    small = Vocabulary(ELEMENTS[:3], all_site_symmetries(), list(range(8)))
    with pytest.raises(ValueError, match="vocabulary sizes"):
        sample(m, small, 2, spacegroups=[1, 2], progress=False)
    assert len(sample(m, vocab, 0, spacegroups=[], progress=False)) == 0


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(temperature=float("nan")), "temperature must be a finite positive number, got nan"),
        (dict(temperature=float("inf")), "temperature .* got inf"),
        (dict(temperature=-1.0), "temperature .* got -1.0"),
        (dict(temperature="hot"), "temperature .* got 'hot'"),
        (dict(batch_size=0), "batch_size must be an integer >= 1, got 0"),
        (dict(batch_size=-4), "batch_size .* got -4"),
        (dict(n=-1), "n must be an integer >= 0, got -1"),
        (dict(n=2.5), "n must be an integer >= 0, got 2.5"),
    ],
)
def test_bad_sampler_arguments_are_clear_errors(vocab, kwargs, match):
    """NaN/inf temperatures used to be accepted and sample garbage silently (validity 0)."""
    args = dict(n=3, spacegroups=[1, 2, 225], progress=False) | kwargs
    with pytest.raises(ValueError, match=match):
        sample(make_model(vocab), vocab, **args)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_spacegroup_weights_are_an_error(vocab, bad):
    w = torch.zeros(231)
    w[1:] = 1.0
    w[225] = bad
    with pytest.raises(ValueError, match="231 finite non-negative weights"):
        sample(make_model(vocab), vocab, 4, spacegroup_distribution=w, progress=False)


@pytest.mark.parametrize("constrained", [True, False])
@pytest.mark.parametrize("cache_prefix", [True, False])
def test_max_elements_caps_the_distinct_elements(vocab, constrained, cache_prefix):
    """An untrained model mixes many elements; with the cap no sample has more than 2, and none stops early."""
    model = bias(no_service(make_model(vocab)), 0, STOP, -3.0)  # long samples: many chances for a new element
    kw = dict(
        spacegroups=torch.full((300,), 225), constrained=constrained, seed=1, progress=False, cache_prefix=cache_prefix
    )
    free = sample(model, vocab, 300, **kw)
    capped = sample(model, vocab, 300, max_elements=2, **kw)

    def distinct(res):
        return [len({int(t) for t in row[: int(n)]}) for row, n in zip(res.element, res.n_sites, strict=True)]

    assert max(distinct(free)) > 2
    assert max(distinct(capped)) <= 2
    assert capped.meta["max_elements"] == 2
    with pytest.raises(ValueError, match="max_elements"):
        sample(model, vocab, 3, max_elements=0, **{**kw, "spacegroups": torch.full((3,), 225)})
