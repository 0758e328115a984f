"""What the model benchmarks share (the relax benchmarks share `bench.trials`): the paper-size model config."""

from __future__ import annotations

import torch

from wylib.model import ModelConfig
from wylib.vocab import Vocabulary


def paper_size_config(vocab: Vocabulary, sg_features: torch.Tensor) -> ModelConfig:
    """`ModelConfig`'s field defaults (the paper's MP-20 model) sized for `vocab` and the space-group features."""
    return ModelConfig(
        n_elements=vocab.n_elements,
        n_site_symmetries=vocab.n_site_symmetries,
        n_enumerations=vocab.n_enumerations,
        n_sg_features=sg_features.shape[1],
    )
