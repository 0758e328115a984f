"""Tiny random models and vocabularies shared by the sampler and likelihood tests."""

from __future__ import annotations

import pytest
import torch

from wylib.model import ModelConfig, WyckoffTransformer
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
    return WyckoffTransformer(cfg, f, vocab.grammar() if cfg.grammar_bias else None).eval()


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models: one thread is faster (much faster on a loaded machine); restored afterwards."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
