"""Tiny random models, vocabularies and samples shared by the sampler, likelihood and forensics tests."""

from __future__ import annotations

import pytest
import torch

from wylib.element_features import element_feature_matrix
from wylib.model import MASK, STOP, ModelConfig, WyckoffTransformer
from wylib.sample import SampleResult, sample
from wylib.symmetry import all_site_symmetries, spacegroup_features
from wylib.vocab import Vocabulary

ELEMENTS = ["Li", "O", "Na", "Mg", "Si", "Cl", "Ti", "Fe"]


def tiny_vocab(max_sites: int) -> Vocabulary:
    return Vocabulary(ELEMENTS, all_site_symmetries(), list(range(8)), max_sites=max_sites)


def tiny_model(vocab: Vocabulary, seed: int = 0, **overrides) -> WyckoffTransformer:
    """A small random WyckoffTransformer in eval mode (sizes overridable)."""
    f = spacegroup_features()
    sizes = dict(d_element=8, d_site_symmetry=8, d_enumeration=8, n_layer=2, n_head=2, d_ff=32, d_head_mlp=16)
    sizes.update(overrides)
    cfg = ModelConfig(
        n_elements=vocab.n_elements,
        n_site_symmetries=vocab.n_site_symmetries,
        n_enumerations=vocab.n_enumerations,
        n_sg_features=f.shape[1],
        **sizes,
    )
    torch.manual_seed(seed)
    grammar = vocab.grammar() if cfg.grammar_bias or cfg.composition else None
    elements = element_feature_matrix(vocab.elements) if cfg.element_features else None
    return WyckoffTransformer(cfg, f, grammar, elements).eval()


def short_model(vocab: Vocabulary, seed: int = 0) -> WyckoffTransformer:
    """`tiny_model` with the STOP logit raised by 1.5: shorter sequences than a plain random init."""
    m = tiny_model(vocab, seed)
    with torch.no_grad():
        m.heads[0][-1].bias[STOP] += 1.5
    return m


def tiny_samples(model: WyckoffTransformer, vocab: Vocabulary) -> SampleResult:
    """96 constrained samples (seed 5), one per odd-numbered space group 1, 3, ..., 191."""
    return sample(
        model, vocab, 96, spacegroups=torch.arange(1, 231)[::2][:96], seed=5, constrained=True, progress=False
    )


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models: one thread is faster (much faster on a loaded machine); restored afterwards."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def assert_cascade_paths_agree(m: WyckoffTransformer, vocab: Vocabulary, B: int = 24, K: int = 6) -> None:
    """The training pass, `cascade_logits`, `PrefixCache` (also after `subset`) and sampling with and without
    the cache all give the same logits / samples on random prefixes of `m`."""
    from wylib.sample import PrefixCache, sample

    g = torch.Generator().manual_seed(0)
    sg = torch.randint(1, 231, (B,), generator=g)
    sites = torch.stack([torch.randint(3, n, (B, K), generator=g) for n in vocab.sizes], -1)
    nk = torch.randint(0, K + 1, (B,), generator=g)
    q = torch.stack([torch.randint(3, n, (B,), generator=g) for n in vocab.sizes], -1)
    mask = torch.full((B,), MASK)
    ar = torch.randint(0, 5, (B,), generator=g) if m.cfg.arity else None  # ModelConfig.arity: any arity per row
    cache = PrefixCache(m, sg, sites, nk, ar)
    e, s = q[:, 0], q[:, 1]
    queries = [torch.stack(parts, -1) for parts in ((mask, mask, mask), (e, mask, mask), (e, s, mask))]
    with torch.no_grad():
        joint = m(sg, *sites.unbind(-1), nk, e, s, arity=ar)  # the training path
        for f, query in enumerate(queries):
            ref = m.cascade_logits(sg, *sites.unbind(-1), nk, f, e, s, arity=ar)
            torch.testing.assert_close(joint[f], ref, atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(cache.logits(f, query), ref, atol=1e-5, rtol=1e-5)
        keep = nk > 2
        torch.testing.assert_close(cache.subset(keep).logits(2, queries[2][keep]), joint[2][keep])
    groups = torch.arange(1, 231)[::6]
    a = sample(m, vocab, 39, spacegroups=groups, seed=2, constrained=False, progress=False)
    b = sample(m, vocab, 39, spacegroups=groups, seed=2, constrained=False, progress=False, cache_prefix=False)
    assert torch.equal(a.element, b.element) and torch.equal(a.enumeration, b.enumeration)
    torch.testing.assert_close(a.logp_model, b.logp_model, atol=1e-5, rtol=1e-5)
