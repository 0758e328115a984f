"""Tests of wylib.train: learning, NLL convention, run directories, determinism, resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from wylib.device import resolve_device
from wylib.likelihood import all_rows, nll_summary, row_losses, sequence_nll, sequence_nll_ordered
from wylib.model import STOP, WyckoffTransformer
from wylib.train import TrainConfig, load_run, train

from test_model import sg_features, synthetic, tiny_cfg


def tcfg(**kw) -> TrainConfig:
    base = dict(
        max_epochs=6, batch_size=32, lr=3e-3, warmup_steps=5, num_threads=1, val_n_perm=1, test_n_perm=2, patience=100
    )
    return TrainConfig(**{**base, **kw})


def _run(tmp: Path, cfg: TrainConfig, n: int = 96) -> dict:
    return train(
        tiny_cfg(),
        cfg,
        synthetic(n, seed=0),
        synthetic(32, seed=1),
        tmp,
        sg_features=sg_features(),
        vocab={"toy": True},
        test_data=synthetic(32, seed=2),
        progress=False,
    )


def test_permuted_keeps_sites_and_stop() -> None:
    d = synthetic(50)
    E, S, C = d.permuted(torch.Generator().manual_seed(0))
    for i in range(50):
        n = int(d.n_sites[i])
        assert sorted(E[i, :n].tolist()) == sorted(d.element[i, :n].tolist())
        assert E[i, n] == STOP and (E[i, n + 1 :] == 0).all()
        # the element of a site travels with its site symmetry
        pairs = sorted(zip(E[i, :n].tolist(), S[i, :n].tolist(), strict=True))
        assert pairs == sorted(zip(d.element[i, :n].tolist(), d.site_symmetry[i, 0, :n].tolist(), strict=True))
    idx, k = all_rows(torch.tensor([0, 2]))
    assert idx.tolist() == [0, 1, 1, 1] and k.tolist() == [0, 0, 1, 2]


def test_sequence_nll_matches_cascade_by_hand() -> None:
    torch.manual_seed(0)
    m = WyckoffTransformer(tiny_cfg(), sg_features()).eval()
    d = synthetic(3)
    E, S, C = d.element, d.site_symmetry[:, 0], d.enumeration[:, 0]
    got = sequence_nll_ordered(m, d.spacegroup, E, S, C, d.n_sites)
    for i in range(3):
        n, want = int(d.n_sites[i]), torch.zeros(3)
        one = slice(i, i + 1)
        for k in range(n + 1):
            kk = torch.tensor([k])
            lp = F.log_softmax(m.cascade_logits(d.spacegroup[one], E[one], S[one], C[one], kk, 0), -1)
            want[0] -= lp[0, E[i, k]]
            if k < n:
                for f, tgt in ((1, S), (2, C)):
                    lp = F.log_softmax(
                        m.cascade_logits(d.spacegroup[one], E[one], S[one], C[one], kk, f, E[one][:, k], S[one][:, k]),
                        -1,
                    )
                    want[f] -= lp[0, tgt[i, k]]
        torch.testing.assert_close(got[i], want, atol=1e-4, rtol=1e-5)
    s = nll_summary(sequence_nll(m, d, n_perm=2))
    assert s["n_perm"] == 2
    assert abs(s["nll"] - (s["nll_element"] + s["nll_site_symmetry"] + s["nll_enumeration"])) < 1e-4


def test_soft_element_target() -> None:
    """The soft loss equals the cross-entropy with the histogram of the remaining elements."""
    torch.manual_seed(0)
    m = WyckoffTransformer(tiny_cfg(), sg_features()).eval()
    E = torch.tensor([[5, 5, 7, STOP, 0]])
    S, C = torch.full_like(E, 4), torch.full_like(E, 3)
    sg, n = torch.tensor([2]), torch.tensor([3])
    for k, hist in ((0, {5: 2 / 3, 7: 1 / 3}), (2, {7: 1.0}), (3, {STOP: 1.0})):
        loss = row_losses(m, sg, E, S, C, n, torch.tensor([k]))
        lp = F.log_softmax(m.cascade_logits(sg, E, S, C, torch.tensor([k]), 0), -1)[0]
        assert torch.isclose(loss[0, 0], -sum(w * lp[t] for t, w in hist.items()), atol=1e-5)
        assert (loss[0, 1:] == 0).all() == (k == 3)


def test_tiny_model_learns_and_round_trips(tmp_path: Path) -> None:
    torch.manual_seed(0)
    untrained = WyckoffTransformer(tiny_cfg(), sg_features())
    before = nll_summary(sequence_nll(untrained, synthetic(32, seed=1), 1, 12345))["nll"]
    metrics = _run(tmp_path, tcfg(max_epochs=8))
    hist = (tmp_path / "history.csv").read_text().splitlines()
    assert len(hist) == 1 + 8
    assert metrics["best_val_nll"] < 0.6 * before, (before, metrics["best_val_nll"])
    assert metrics["test"]["n_perm"] == 2 and metrics["stop_reason"] == "max_rounds"
    for f in ("model.pt", "config.json", "vocab.json", "metrics.json", "checkpoint_last.pt"):
        assert (tmp_path / f).exists()
    torch.load(tmp_path / "checkpoint_last.pt", weights_only=True)
    model, vocab, config = load_run(tmp_path, device="cpu")
    assert vocab == {"toy": True} and config["train"]["max_epochs"] == 8 and not model.training
    again = nll_summary(sequence_nll(model, synthetic(32, seed=2), 2, 12345))
    assert abs(again["nll"] - metrics["test"]["nll"]) < 1e-4
    assert json.loads((tmp_path / "metrics.json").read_text())["best_val_nll"] == metrics["best_val_nll"]


def test_official_recipe_learns(tmp_path: Path) -> None:
    cfg = TrainConfig.official(
        val_every=20, max_steps=200, max_sites=6, num_threads=1, val_n_perm=1, test_n_perm=1, lr=0.05
    )
    metrics = _run(tmp_path, cfg)
    rows = (tmp_path / "history.csv").read_text().splitlines()
    assert len(rows) == 1 + 10 and metrics["steps"] == 200
    first_val = float(rows[1].split(",")[rows[0].split(",").index("val_nll")])
    assert metrics["best_val_nll"] < first_val


def test_same_seed_same_weights(tmp_path: Path) -> None:
    a, b, c = (_run(tmp_path / x, tcfg(max_epochs=2, seed=s)) for x, s in (("a", 1), ("b", 1), ("c", 2)))
    sa, sb, sc = (torch.load(tmp_path / x / "model.pt", weights_only=True) for x in "abc")
    assert all(torch.equal(sa[k], sb[k]) for k in sa) and a["best_val_nll"] == b["best_val_nll"]
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


def test_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        _run(tmp_path / "x", tcfg(objective="nope"))
    _run(tmp_path / "y", tcfg(max_epochs=1))
    with pytest.raises(ValueError):  # resuming with another configuration is refused
        _run(tmp_path / "y", tcfg(max_epochs=1, lr=1.0))
    with pytest.raises(FileNotFoundError):
        load_run(tmp_path / "missing")
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")


def test_weight_ema_is_what_is_validated_and_saved(tmp_path: Path) -> None:
    """With ema_decay the saved model is the moving average (not the raw weights), it learns, and it resumes."""
    from wylib.train import _ema_update

    a, b = WyckoffTransformer(tiny_cfg(), sg_features()), WyckoffTransformer(tiny_cfg(), sg_features())
    pa = [p.detach().clone() for p in a.parameters()]
    _ema_update(a, b, 0.9, step=1000)  # d = 0.9: a <- 0.9 a + 0.1 b
    for x, y, z in zip(a.parameters(), pa, b.parameters(), strict=True):
        assert torch.allclose(x, 0.9 * y + 0.1 * z, atol=1e-6)
    metrics = _run(tmp_path / "ema", tcfg(max_epochs=8, ema_decay=0.9))
    raw = _run(tmp_path / "raw", tcfg(max_epochs=8))
    fresh = WyckoffTransformer(tiny_cfg(), sg_features())
    untrained = nll_summary(sequence_nll(fresh, synthetic(32, seed=1), 1, 12345))
    assert metrics["best_val_nll"] < 0.6 * untrained["nll"] and metrics["best_val_nll"] != raw["best_val_nll"]
    ck = torch.load(tmp_path / "ema" / "checkpoint_last.pt", weights_only=True)
    saved = torch.load(tmp_path / "ema" / "model.pt", weights_only=True)
    if metrics["best_round"] == 7:  # the last round was the best: the saved weights are the final EMA
        assert all(torch.equal(saved[k], ck["ema"][k]) for k in saved)
    assert not all(torch.equal(ck["ema"][k], ck["model"][k]) for k in saved)
    from wylib.train import Trainer  # stopped after 3 rounds and resumed: the same EMA weights as the run above

    args = (tiny_cfg(), tcfg(max_epochs=8, ema_decay=0.9), synthetic(96, seed=0), synthetic(32, seed=1))
    tr = Trainer(*args, tmp_path / "resumed", sg_features(), {"toy": True}, progress=False)
    for _ in range(3):
        tr.round()
    del tr
    again = _run(tmp_path / "resumed", tcfg(max_epochs=8, ema_decay=0.9))
    assert again["best_val_nll"] == metrics["best_val_nll"]
    resumed = torch.load(tmp_path / "resumed" / "model.pt", weights_only=True)
    assert all(torch.equal(saved[k], resumed[k]) for k in saved)
    with pytest.raises(ValueError, match="ema_decay"):
        _run(tmp_path / "bad", tcfg(ema_decay=1.0))
    off = tcfg(max_epochs=8, ema_decay=None)  # notebook 02's documented "None: the raw weights"
    assert off.ema_decay == 0.0
    assert _run(tmp_path / "none", off)["best_val_nll"] == raw["best_val_nll"]


KILL_SCRIPT = textwrap.dedent("""
    import sys
    from test_train import _run, tcfg
    _run(__import__("pathlib").Path(sys.argv[1]), tcfg(max_epochs=12))
""")


@pytest.mark.slow
def test_killed_run_resumes_from_checkpoint(tmp_path: Path) -> None:
    ref = _run(tmp_path / "ref", tcfg(max_epochs=12))
    run = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1]), str(Path(__file__).parent)])}
    proc = subprocess.Popen(
        [sys.executable, "-c", KILL_SCRIPT, str(run)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 300
    while time.time() < deadline:
        hist = run / "history.csv"
        if hist.exists() and len(hist.read_text().splitlines()) >= 1 + 3:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = len((run / "history.csv").read_text().splitlines()) - 1
    assert 3 <= done < 12, done  # killed mid-way
    resumed = _run(run, tcfg(max_epochs=12))
    assert resumed["rounds"] == 12
    sr, sk = (torch.load(p / "model.pt", weights_only=True) for p in (tmp_path / "ref", run))
    assert all(torch.equal(sr[k], sk[k]) for k in sr)
    assert resumed["test"]["nll"] == ref["test"]["nll"]


def test_training_subset_for_learning_curves():
    import dataclasses

    from wylib.train import training_subset

    data = synthetic(40, seed=0)
    data = dataclasses.replace(data, spacegroup=torch.arange(1, 41))  # each row recognisable by its group
    half = training_subset(data, 0.5, seed=3)
    assert len(half) == 20
    assert torch.equal(half.spacegroup, training_subset(data, 0.5, seed=3).spacegroup)  # seeded
    assert not torch.equal(half.spacegroup, training_subset(data, 0.5, seed=4).spacegroup)
    picked = half.spacegroup.tolist()
    assert picked == sorted(picked) and len(set(picked)) == 20  # distinct rows, original order
    assert training_subset(data, 1.0) is data and len(training_subset(data, 0.001)) == 1
    for bad in (0, -0.5, 1.5, float("nan"), "half"):
        with pytest.raises(ValueError, match="train_fraction"):
            training_subset(data, bad)
