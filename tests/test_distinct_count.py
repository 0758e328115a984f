"""Tests of ModelConfig.distinct_count: off = the paper's heads unchanged; on = consistent in all cascade paths."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from wylib.model import MASK, MAX_COUNT, PAD, STOP, ModelConfig, WyckoffTransformer

from test_model import _inputs, sg_features, synthetic, tiny_cfg
from tiny import assert_cascade_paths_agree, one_thread, tiny_model, tiny_vocab  # noqa: F401

pytestmark = pytest.mark.usefixtures("one_thread")
REPO = Path(__file__).resolve().parent.parent


def build(distinct_count: bool | None, seed: int = 0) -> WyckoffTransformer:
    cfg = tiny_cfg()
    if distinct_count is not None:
        cfg = ModelConfig(**{**cfg.to_dict(), "distinct_count": distinct_count})
    torch.manual_seed(seed)
    return WyckoffTransformer(cfg, sg_features()).eval()


def paper_heads(m: WyckoffTransformer, args, fields: tuple[int, ...] = (0, 1, 2)) -> list[torch.Tensor]:
    """The heads as the paper (and this model before the option) compute them: [query output, presence].

    One encoder pass with one query per field in `fields` (as forward for all three, cascade_logits for one)."""
    sg, E, S, C, k, qe, qs = args
    sites = torch.stack([E, S, C], -1)
    mm = torch.full_like(qe, MASK)
    all_q = ((mm, mm, mm), (qe, mm, mm), (qe, qs, mm))
    h = m.encode_queries(sg, sites, k, torch.stack([torch.stack(all_q[f], -1) for f in fields], 1))
    pres = [m.presence(sites[..., f], k, v) for f, v in enumerate(m.cfg.vocab_sizes)]
    return [m.heads[f](torch.cat([h[:, i], pres[f]], -1)) for i, f in enumerate(fields)]


def distinct_known(E: torch.Tensor, k: torch.Tensor) -> list[int]:
    return [len({t for t in row[:n].tolist() if t > STOP}) for row, n in zip(E, k.tolist(), strict=True)]


def test_flag_off_is_the_paper_model() -> None:
    off, default = build(False), build(None)
    assert not default.cfg.distinct_count  # the default is the paper's model
    on = build(True)
    sd_off, sd_on = off.state_dict(), on.state_dict()
    assert sd_off.keys() == sd_on.keys() and all(torch.equal(v, default.state_dict()[n]) for n, v in sd_off.items())
    # only the element head's first layer grows, by MAX_COUNT + 1 inputs
    grown = {n for n in sd_off if sd_off[n].shape != sd_on[n].shape}
    w = "heads.0.0.weight"
    assert grown == {w} and sd_on[w].shape[1] == sd_off[w].shape[1] + MAX_COUNT + 1
    d = synthetic(32)
    for nk in (d.n_sites, (d.n_sites - 2).clamp(min=0)):
        args = _inputs(d, nk)
        with torch.no_grad():
            for a, b in zip(off(*args), paper_heads(off, args), strict=True):
                assert torch.equal(a, b)
            for f in range(3):
                assert torch.equal(off.cascade_logits(*args[:5], f, args[5], args[6]), paper_heads(off, args, (f,))[0])


def test_committed_model_loads_with_the_heads_its_config_names() -> None:
    run = REPO / "runs" / "default"
    if not (run / "model.pt").exists():
        pytest.skip("runs/default not present")
    from wylib.train import load_run

    saved = json.loads((run / "config.json").read_text())["model"]
    m = load_run(run, device="cpu")[0]  # strict load_state_dict: the head widths must match
    flags = ("distinct_count", "arity", "site_count", "element_gate", "stop_count", "element_features", "composition")
    for flag in flags:
        assert getattr(m.cfg, flag) == saved.get(flag, False)
    assert m.cfg.element_features_embed == saved.get("element_features_embed", True)
    assert hasattr(m, "element_feature_embed") == (m.cfg.element_features and m.cfg.element_features_embed)
    count = (m.cfg.distinct_max + 1) * (int(m.cfg.distinct_count) + int(m.cfg.arity))
    count += (m.cfg.site_count_max + 1) * int(m.cfg.site_count) + m.cfg.n_element_features * int(m.cfg.element_features)
    # the composition of the known sites (atom share per element, with element_features its mean descriptor)
    count += (m.cfg.n_elements + m.cfg.n_element_features * int(m.cfg.element_features)) * int(m.cfg.composition)
    assert m.heads[0][0].in_features == m.cfg.d_model + m.cfg.n_elements + count
    assert hasattr(m, "arity_head") == m.cfg.arity
    assert m.heads[0][-1].out_features == m.cfg.n_elements + (2 if m.cfg.element_gate else 0)


def test_feature_is_the_clipped_number_of_distinct_known_elements() -> None:
    g = torch.Generator().manual_seed(0)
    B, K = 200, 14
    E = torch.randint(0, 17, (B, K), generator=g)  # includes PAD, MASK, STOP and repeats
    k = torch.randint(0, K + 1, (B,), generator=g)
    k[:3] = K  # some rows with all slots known
    E[0] = torch.arange(3, 3 + K)  # 14 distinct: clipped to MAX_COUNT
    E[1] = torch.tensor([PAD, MASK, STOP] * 4 + [5, 5])  # service tokens do not count: 1
    E[2] = STOP
    onehot = WyckoffTransformer.distinct_onehot(WyckoffTransformer.presence(E, k, 17))
    assert onehot.shape == (B, MAX_COUNT + 1) and bool((onehot.sum(-1) == 1).all())
    expected = torch.tensor(distinct_known(E, k)).clamp(max=MAX_COUNT)
    assert torch.equal(onehot.argmax(-1), expected)
    assert expected[:3].tolist() == [MAX_COUNT, 1, 0] and len(set(expected.tolist())) == MAX_COUNT + 1


def test_flag_on_element_head_reads_the_count() -> None:
    m = build(True)
    d = synthetic(64)
    args = _inputs(d, (d.n_sites - 1).clamp(min=0))
    count = torch.tensor(distinct_known(args[1], args[4]))
    c = int(count.mode().values)
    with torch.no_grad():
        ref = m(*args)
        m.heads[0][0].weight[:, -(MAX_COUNT + 1) + c] += 1.0  # the input unit of count c
        out = m(*args)
    changed = (out[0] - ref[0]).abs().amax(-1) > 1e-6
    assert torch.equal(changed, count == c) and bool(changed.any()) and not bool(changed.all())
    assert torch.equal(out[1], ref[1]) and torch.equal(out[2], ref[2])  # the other heads do not read it


def test_flag_on_all_cascade_paths_agree() -> None:
    vocab = tiny_vocab(max_sites=8)
    assert_cascade_paths_agree(tiny_model(vocab, 0, n_layer=1, dropout=0.1, distinct_count=True), vocab)


def test_distinct_max_clips_the_count_where_the_data_end() -> None:
    """distinct_max=3: the one-hot has 4 units and 3, 4, ... distinct elements all light the last one."""
    import dataclasses

    m = WyckoffTransformer(dataclasses.replace(build(True).cfg, distinct_max=3), build(True).sg_features)
    assert m.heads[0][0].weight.shape[1] == build(False).heads[0][0].weight.shape[1] + 4
    E = torch.full((3, 6), PAD)
    E[0, :5] = torch.tensor([3, 4, 5, 6, 7])  # 5 distinct
    E[1, :3] = torch.tensor([3, 4, 5])  # 3 distinct
    E[2, :2] = torch.tensor([3, 3])  # 1 distinct
    onehot = WyckoffTransformer.distinct_onehot(WyckoffTransformer.presence(E, torch.tensor([5, 3, 2]), 17), 3)
    assert onehot.argmax(-1).tolist() == [3, 3, 1] and onehot.shape == (3, 4)
