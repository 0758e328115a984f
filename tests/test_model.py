"""Tests of wylib.model: shapes, permutation invariance, query isolation, parameter count."""

from __future__ import annotations

import pytest
import torch

from wylib.model import MASK, PAD, STOP, ModelConfig, WyckoffTransformer
from wylib.vocab import EncodedDataset


def synthetic(
    n: int = 64, max_sites: int = 6, variants: int = 3, seed: int = 0, cfg: ModelConfig | None = None
) -> EncodedDataset:
    """Learnable toy data: few space groups; site symmetry and enumeration depend on the element."""
    cfg = cfg or ModelConfig(n_elements=13, n_site_symmetries=9, n_enumerations=6, n_sg_features=8)
    g = torch.Generator().manual_seed(seed)
    L = max_sites + 1
    n_sites = torch.randint(1, max_sites + 1, (n,), generator=g)
    sg = torch.randint(1, 5, (n,), generator=g)
    pos = torch.arange(L)[None]
    real = pos < n_sites[:, None]
    el = 3 + (torch.randint(0, 4, (n, L), generator=g) + sg[:, None]) % (cfg.n_elements - 3)
    element = torch.where(real, el, PAD)
    element[torch.arange(n), n_sites] = STOP
    ss = 3 + el % (cfg.n_site_symmetries - 3)
    R = variants
    n_var = torch.randint(1, R + 1, (n,), generator=g)
    en = torch.stack([3 + (el + r) % (cfg.n_enumerations - 3) for r in range(R)], 1)  # (n, R, L)
    en = torch.where(torch.arange(R)[None, :, None] < n_var[:, None, None], en, en[:, :1])
    mask = real[:, None].expand(n, R, L)
    return EncodedDataset(
        sg, element, torch.where(mask, ss[:, None].expand(n, R, L), PAD), torch.where(mask, en, PAD), n_sites, n_var
    )


def sg_features(f: int = 8, seed: int = 1) -> torch.Tensor:
    return (torch.rand(231, f, generator=torch.Generator().manual_seed(seed)) > 0.5).float()


def tiny_cfg() -> ModelConfig:
    return ModelConfig(
        n_elements=13, n_site_symmetries=9, n_enumerations=6, n_sg_features=8, n_layer=2, d_head_mlp=32, dropout=0.1
    )


@pytest.fixture
def model() -> WyckoffTransformer:
    torch.manual_seed(0)
    return WyckoffTransformer(tiny_cfg(), sg_features()).eval()


def _inputs(d: EncodedDataset, n_known: torch.Tensor):
    E, S, C = d.element, d.site_symmetry[:, 0], d.enumeration[:, 0]
    b = torch.arange(len(d))
    return d.spacegroup, E, S, C, n_known, E[b, n_known], S[b, n_known]


def test_paper_size_and_shapes() -> None:
    m = WyckoffTransformer(ModelConfig(), torch.zeros(231, 97))
    assert 120_000 < m.n_params() < 135_000  # paper: about 128k
    assert m.cfg.d_model == 40
    d = synthetic(8, cfg=ModelConfig())
    le, ls, lc = m(*_inputs(d, torch.zeros(8, dtype=torch.long)))
    assert le.shape == (8, 92) and ls.shape == (8, 75) and lc.shape == (8, 11)


def test_permuting_known_sites_leaves_distribution_unchanged(model: WyckoffTransformer) -> None:
    d = synthetic(16, max_sites=6)
    nk = d.n_sites.clone()  # all sites known: predict STOP position; and a partial prefix
    for n_known in (nk, (nk - 1).clamp(min=0)):
        sg, E, S, C, k, qe, qs = _inputs(d, n_known)
        ref = model(sg, E, S, C, k, qe, qs)
        g = torch.Generator().manual_seed(3)
        keys = torch.where(torch.arange(E.shape[1])[None] < k[:, None], torch.rand(E.shape, generator=g), 9.0)
        perm = keys.argsort(dim=1, stable=True)
        out = model(sg, E.gather(1, perm), S.gather(1, perm), C.gather(1, perm), k, qe, qs)
        for a, b in zip(ref, out, strict=True):
            torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
        # but changing a known site does change it
        E2 = E.clone()
        E2[:, 0] = torch.where(k > 0, 3 + (E[:, 0] - 2) % 10, E[:, 0])
        assert not torch.allclose(model(sg, E2, S, C, k, qe, qs)[0][k > 0], ref[0][k > 0])


def test_unknown_sites_are_ignored(model: WyckoffTransformer) -> None:
    d = synthetic(16)
    sg, E, S, C, k, qe, qs = _inputs(d, (d.n_sites - 2).clamp(min=0))
    ref = model(sg, E, S, C, k, qe, qs)
    junk = torch.where(torch.arange(E.shape[1])[None] >= k[:, None], torch.full_like(E, 7), E)
    out = model(sg, junk, S, C, k, qe, qs)
    for a, b in zip(ref, out, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_three_queries_equal_separate_passes(model: WyckoffTransformer) -> None:
    d = synthetic(32)
    args = _inputs(d, (d.n_sites - 1).clamp(min=0))
    sg, E, S, C, k, qe, qs = args
    joint = model(*args)
    for f in range(3):
        sep = model.cascade_logits(sg, E, S, C, k, f, query_element=qe, query_site_symmetry=qs)
        torch.testing.assert_close(joint[f], sep, atol=1e-5, rtol=1e-5)


def test_cascade_logits_requires_earlier_fields(model: WyckoffTransformer) -> None:
    d = synthetic(4)
    sg, E, S, C, k, qe, qs = _inputs(d, torch.ones(4, dtype=torch.long))
    with pytest.raises(ValueError):
        model.cascade_logits(sg, E, S, C, k, 2, query_element=qe)
    with pytest.raises(ValueError):
        model.cascade_logits(sg, E, S, C, k, 1)


def test_empty_prefix_and_presence(model: WyckoffTransformer) -> None:
    d = synthetic(4)
    sg, E, S, C, _, qe, qs = _inputs(d, torch.zeros(4, dtype=torch.long))
    out = model(sg, E[:, :0], S[:, :0], C[:, :0], torch.zeros(4, dtype=torch.long), qe, qs)
    assert all(torch.isfinite(o).all() for o in out)
    pres = WyckoffTransformer.presence(torch.tensor([[5, 6, STOP, PAD]]), torch.tensor([2]), 8)
    assert pres.tolist() == [[0, 0, 0, 0, 0, 1, 1, 0]]
    pres = WyckoffTransformer.presence(torch.tensor([[5, 6, MASK]]), torch.tensor([1]), 8)
    assert pres.tolist() == [[0, 0, 0, 0, 0, 1, 0, 0]]


def test_bad_sg_feature_shape() -> None:
    with pytest.raises(AssertionError):
        WyckoffTransformer(ModelConfig(n_sg_features=5), torch.zeros(231, 6))


def test_paper_preset_heads_read_query_output_and_presence_only(model: WyckoffTransformer) -> None:
    """ModelConfig() = ModelConfig.paper(): each head is the paper's MLP on [query output, presence vector], in
    forward (one encoder pass, three queries) and in cascade_logits (one query)."""
    assert ModelConfig() == ModelConfig.paper() and model.cfg == ModelConfig.paper(**tiny_cfg().to_dict())
    d = synthetic(32)
    for nk in (d.n_sites, (d.n_sites - 2).clamp(min=0)):
        sg, E, S, C, k, qe, qs = args = _inputs(d, nk)
        sites = torch.stack([E, S, C], -1)
        mm = torch.full_like(qe, MASK)
        queries = torch.stack([torch.stack(q, -1) for q in ((mm, mm, mm), (qe, mm, mm), (qe, qs, mm))], 1)
        h = model.encode_queries(sg, sites, k, queries)
        with torch.no_grad():
            for f, logits in enumerate(model(*args)):
                pres = model.presence(sites[..., f], k, model.cfg.vocab_sizes[f])
                assert torch.equal(logits, model.heads[f](torch.cat([h[:, f], pres], -1)))
                one = model.encode_queries(sg, sites, k, queries[:, f : f + 1])[:, 0]
                assert torch.equal(
                    model.cascade_logits(*args[:5], f, qe, qs), model.heads[f](torch.cat([one, pres], -1))
                )


def test_default_preset_is_the_committed_run() -> None:
    """ModelConfig.default() is runs/default's configuration, and that run loads with the heads it names."""
    import json
    from pathlib import Path

    from wylib.train import load_run

    run = Path(__file__).resolve().parent.parent / "runs" / "default"
    saved = json.loads((run / "config.json").read_text())["model"]
    assert ModelConfig.from_dict(saved) == ModelConfig.default()
    m = load_run(run, device="cpu")[0]  # strict load_state_dict: the head widths must match
    assert m.cfg == ModelConfig.default() and not hasattr(m, "element_feature_embed")  # descriptors: head only
    count = (m.cfg.distinct_max + 1) + (m.cfg.site_count_max + 1) + m.cfg.n_element_features  # arity, sites, features
    count += m.cfg.n_elements + m.cfg.n_element_features  # the composition of the known sites and its descriptor
    assert m.heads[0][0].in_features == m.cfg.d_model + m.cfg.n_elements + count
    assert hasattr(m, "arity_head") and m.heads[0][-1].out_features == m.cfg.n_elements + 2  # element gate


def test_retired_switches_load_only_when_off() -> None:
    saved = {**ModelConfig.default().to_dict(), "distinct_count": False, "stop_count": False}
    assert ModelConfig.from_dict(saved) == ModelConfig.default()
    with pytest.raises(ValueError, match="0e4900e"):
        ModelConfig.from_dict({**saved, "stop_count": True})
    with pytest.raises(TypeError):
        ModelConfig(distinct_count=True)
