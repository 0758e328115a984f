"""Training the WyckoffTransformer: our objective, the official recipe, run directories. Method: docs/model.md."""

from __future__ import annotations

import copy
import csv
import json
import math
import os
import time
import zipfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from wylib.data import load_encoded
from wylib.device import resolve_device
from wylib.element_features import element_feature_matrix
from wylib.likelihood import all_rows, nll_summary, row_losses, sequence_nll, soft_element_target
from wylib.machine import machine_info
from wylib.model import ModelConfig, WyckoffTransformer
from wylib.symmetry import spacegroup_features
from wylib.vocab import Vocabulary, draw_seed


@dataclass
class TrainConfig:
    objective: str = "ours"  # "ours" | "official"
    seed: int = 0
    device: str = "cpu"  # "cpu" | "cuda" | "auto"
    num_threads: int = 1  # 2 threads on a loaded 2-core machine is ~10x slower (measured)
    max_epochs: int = 60  # ours: epochs (cosine schedule length)
    batch_size: int = 256  # ours: rows (structure, k) per step
    lr: float = 2e-3  # ours: AdamW peak lr; official: SGD lr (0.2)
    weight_decay: float = 0.01
    warmup_steps: int = 300
    min_lr_ratio: float = 0.05
    grad_clip: float = 1.0  # official: 2.0
    patience: int = 8  # ours: epochs without val improvement
    bucket_chunk: int = 16  # ours: sort rows by k inside chunks of this many batches (0: off)
    val_every: int = 1000  # official: steps per validation
    max_steps: int = 1_000_000  # official
    early_stop_steps: int = 100_000  # official
    plateau_factor: float = 0.8  # official
    plateau_patience: int = 20  # official, in validations
    max_sites: int = 20  # official: k drawn in 0..max_sites
    val_n_perm: int = 2  # permutations for validation NLL (fixed seeds)
    test_n_perm: int = 5  # permutations for the final NLL report
    eval_seed: int = 12345
    time_budget_s: float | None = None  # stop after this much training wall time
    # ours: weight EMA per step, validated and saved instead of the raw weights (0/None: off)
    ema_decay: float | None = 0.0

    def __post_init__(self) -> None:
        if self.ema_decay is None:  # notebook 02 documents None for "off"
            self.ema_decay = 0.0

    @classmethod
    def official(cls, **kw: Any) -> TrainConfig:
        """The authors' recipe (docs/paper-notes.md)."""
        base = dict(objective="official", lr=0.2, grad_clip=2.0, val_every=1000)
        return cls(**{**base, **kw})


# ----------------------------------------------------------------------------- run directory


def _atomic_save(obj: Any, path: Path) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _write_json(obj: Any, path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(obj, indent=2))
    os.replace(tmp, path)


def _write_history(history: list[dict], path: Path) -> None:
    if not history:
        return
    keys = list(dict.fromkeys(k for h in history for k in h))
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(history)


class ModelFileError(ValueError):
    """A run directory's file is missing or damaged (named in the message)."""


class MissingRunFileError(ModelFileError, FileNotFoundError):
    """A run directory lacks one of its files."""


def load_weights(path: Path) -> dict:
    """A torch `.pt` file, its zip CRCs verified, loaded `weights_only`; any fault is a `ModelFileError`."""
    try:
        with zipfile.ZipFile(path) as z:
            bad = z.testzip()
    except (OSError, zipfile.BadZipFile) as err:
        raise ModelFileError(f"{path}: not a readable torch file ({type(err).__name__}: {err})") from None
    if bad is not None:
        raise ModelFileError(f"{path}: damaged (checksum of {bad!r} does not match); retrain or restore the file")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch's own message would suggest unsafe loading
        raise ModelFileError(f"{path}: cannot be loaded as weights ({type(err).__name__})") from None


def load_run(run_dir: str | Path, device: str = "auto") -> tuple[WyckoffTransformer, Any, dict]:
    """Best model of a run directory -> (model in eval mode, vocabulary, config dict)."""
    run_dir = Path(run_dir)
    missing = [f for f in ("config.json", "model.pt", "vocab.json") if not (run_dir / f).is_file()]
    if missing:
        raise MissingRunFileError(f"{run_dir} is not a trained run: missing {', '.join(missing)}")
    config = json.loads((run_dir / "config.json").read_text())
    model = WyckoffTransformer(ModelConfig.from_dict(config["model"]))
    model.load_state_dict(load_weights(run_dir / "model.pt"))
    vocab: Any = json.loads((run_dir / "vocab.json").read_text())
    if isinstance(vocab, dict) and "elements" in vocab:  # else a test's hand-made vocabulary, as it was saved
        vocab = Vocabulary.from_dict(vocab)
    return model.to(resolve_device(device)).eval(), vocab, config


# ----------------------------------------------------------------------------- training


@dataclass
class _State:
    round: int = 0
    step: int = 0
    best_val: float = math.inf
    best_round: int = -1
    best_step: int = 0
    bad_rounds: int = 0
    elapsed_s: float = 0.0
    cpu_s: float = 0.0
    stop: str = ""
    history: list = field(default_factory=list)


def _lr_ours(cfg: TrainConfig, step: int, total: int) -> float:
    """Linear warm-up (at most a tenth of the run) then cosine decay to min_lr_ratio * lr."""
    warm = max(1, min(cfg.warmup_steps, total // 10))
    if step < warm:
        return cfg.lr * (step + 1) / warm
    t = min(1.0, (step - warm) / max(1, total - warm))
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * t)))


def _ours_batches(data: Any, cfg: TrainConfig, gen: torch.Generator) -> tuple[tuple, list[torch.Tensor]]:
    """Permuted tokens of one epoch and the list of row-index batches (bucketed by k)."""
    tokens = data.permuted(gen)
    idx, k = all_rows(data.n_sites)
    order = torch.randperm(len(idx), generator=gen)
    if cfg.bucket_chunk > 0:
        chunk = cfg.batch_size * cfg.bucket_chunk
        order = torch.cat([c[k[c].argsort(stable=True)] for c in order.split(chunk)])
    batches = list(order.split(cfg.batch_size))
    batches = [batches[i] for i in torch.randperm(len(batches), generator=gen)]
    return (tokens, idx, k), batches


class Trainer:
    """One training run in ``run_dir``, advanced one round at a time (resumes from checkpoint_last.pt)."""

    def __init__(
        self,
        model_cfg: ModelConfig,
        cfg: TrainConfig,
        train_data: Any,
        val_data: Any,
        run_dir: str | Path,
        sg_features: torch.Tensor | None = None,
        vocab: Any = None,
        extra_config: dict | None = None,
        progress: bool = True,
    ):
        if cfg.objective not in ("ours", "official"):
            raise ValueError(f"unknown objective {cfg.objective!r}")
        if cfg.objective == "official" and model_cfg.arity:
            raise ValueError("ModelConfig.arity trains with objective 'ours' only (no arity term in the official one)")
        self.cfg, self.train_data, self.val_data = cfg, train_data, val_data
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        torch.set_num_threads(cfg.num_threads)
        self.dev = dev = resolve_device(cfg.device)
        if sg_features is None:
            sg_features = spacegroup_features()
        self.config = {"model": model_cfg.to_dict(), "train": asdict(cfg), **(extra_config or {})}
        self.ckpt_path = self.run_dir / "checkpoint_last.pt"
        torch.manual_seed(cfg.seed)
        tables = model_cfg.grammar_bias or model_cfg.composition
        if tables and not hasattr(vocab, "grammar"):
            raise ValueError("grammar_bias, composition: the model needs the vocabulary (Wyckoff tables by token id)")
        grammar = vocab.grammar() if tables else None
        elements = None
        if model_cfg.element_features:
            if not hasattr(vocab, "elements"):
                raise ValueError("element_features needs the vocabulary (its element symbols by token id)")
            elements = element_feature_matrix(vocab.elements)
        self.model = WyckoffTransformer(model_cfg, sg_features, grammar, elements).to(dev)
        params = self.model.parameters()
        if cfg.objective == "ours":
            self.opt: torch.optim.Optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
            self.sched = None
        else:
            self.opt = torch.optim.SGD(params, lr=cfg.lr)
            plateau = torch.optim.lr_scheduler.ReduceLROnPlateau
            self.sched = plateau(self.opt, factor=cfg.plateau_factor, patience=cfg.plateau_patience)
        self.st = _State()
        if not 0 <= cfg.ema_decay < 1:
            raise ValueError(f"ema_decay must be in [0, 1), not {cfg.ema_decay!r}")
        # a frozen copy of the model that holds the moving average of its weights
        self.ema = copy.deepcopy(self.model).eval().requires_grad_(False) if cfg.ema_decay > 0 else None
        if self.ckpt_path.exists():
            ck = load_weights(self.ckpt_path)
            saved_model = ModelConfig.from_dict(ck["config"]["model"]).to_dict()  # retired switches dropped
            if ck["config"]["train"] != self.config["train"] or saved_model != self.config["model"]:
                raise ValueError(f"{self.ckpt_path} was written with another configuration; use a new run_dir")
            self.model.load_state_dict(ck["model"])
            self.opt.load_state_dict(ck["optimizer"])
            if self.sched is not None:
                self.sched.load_state_dict(ck["scheduler"])
            self.st = _State(**ck["state"])
            self.best_sd = ck["best_model"]
            if self.ema is not None:
                self.ema.load_state_dict(ck["ema"])
        else:
            self.best_sd = {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}
            _write_json(self.config, self.run_dir / "config.json")
            if vocab is not None:
                _write_json(vocab.to_dict() if hasattr(vocab, "to_dict") else vocab, self.run_dir / "vocab.json")
        self.train_dev = train_data.to(dev) if hasattr(train_data, "to") and dev.type != "cpu" else train_data
        n_rows_epoch = int((train_data.n_sites + 1).sum())
        self.steps_per_round = math.ceil(n_rows_epoch / cfg.batch_size) if cfg.objective == "ours" else cfg.val_every
        self.max_rounds = cfg.max_epochs if cfg.objective == "ours" else math.ceil(cfg.max_steps / cfg.val_every)
        self.total_steps = self.max_rounds * self.steps_per_round
        desc = f"train[{cfg.objective}]"
        self.bar = tqdm(total=self.total_steps, initial=self.st.step, disable=not progress, desc=desc, mininterval=2.0)
        self.stop = "max_rounds" if self.st.round >= self.max_rounds else self.st.stop

    def _step(self, loss: torch.Tensor) -> None:
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
        self.opt.step()
        if self.ema is not None:
            _ema_update(self.ema, self.model, self.cfg.ema_decay, self.st.step)
        self.st.step += 1
        self.bar.update(1)

    def round(self) -> bool:
        """Train one round, validate, checkpoint; returns True when training is finished."""
        cfg, st, dev, model, data = self.cfg, self.st, self.dev, self.model, self.train_data
        if self.stop:
            return True
        t0, c0 = time.perf_counter(), time.process_time()
        seed = draw_seed(cfg.seed, st.round)
        gen = torch.Generator().manual_seed(seed)
        torch.manual_seed(seed + 1)  # dropout
        if dev.type == "cuda":
            torch.cuda.manual_seed_all(seed + 1)
        model.train()
        loss_sum, n_loss, skipped = 0.0, 0, 0
        if cfg.objective == "ours":
            (tokens, idx, k), batches = _ours_batches(data, cfg, gen)
            E, S, C = (t.to(dev) for t in tokens)
            for b in batches:
                for g in self.opt.param_groups:
                    g["lr"] = _lr_ours(cfg, st.step, self.total_steps)
                si, bk = idx[b].to(dev), k[b].to(dev)
                loss = row_losses(
                    model, self.train_dev.spacegroup[si], E[si], S[si], C[si], self.train_dev.n_sites[si], bk
                )
                self._step(loss.sum(-1).mean())
                loss_sum += float(loss.detach().sum())
                n_loss += len(b)
        else:
            for _ in range(self.steps_per_round):
                k = int(torch.randint(0, cfg.max_sites + 1, (1,), generator=gen))
                fld = int(torch.randint(0, 3, (1,), generator=gen))
                E, S, C = data.permuted(gen)
                keep = data.n_sites.cpu() >= k + (1 if fld > 0 else 0)
                if not keep.any():  # no structure that long: the step is counted and skipped
                    skipped += 1
                    st.step += 1
                    self.bar.update(1)
                    continue
                sg, n = data.spacegroup.cpu()[keep].to(dev), data.n_sites.cpu()[keep].to(dev)
                loss = _official_loss(model, sg, E[keep].to(dev), S[keep].to(dev), C[keep].to(dev), n, k, fld)
                self._step(loss)
                loss_sum += float(loss.detach()) / int(keep.sum())
                n_loss += 1
        st.elapsed_s += time.perf_counter() - t0
        st.cpu_s += time.process_time() - c0
        judged = self.ema if self.ema is not None else model  # the weights that are validated and saved
        val = nll_summary(sequence_nll(judged, self.val_data, cfg.val_n_perm, cfg.eval_seed))
        if self.sched is not None:
            self.sched.step(val["nll"])
        if val["nll"] < st.best_val:
            st.best_val, st.best_round, st.best_step, st.bad_rounds = val["nll"], st.round, st.step, 0
            self.best_sd = {k_: v.detach().cpu().clone() for k_, v in judged.state_dict().items()}
            _atomic_save(self.best_sd, self.run_dir / "model.pt")
        else:
            st.bad_rounds += 1
        lr = self.opt.param_groups[0]["lr"]
        st.history.append(
            {
                "round": st.round,
                "step": st.step,
                "wall_s": round(st.elapsed_s, 2),
                "cpu_s": round(st.cpu_s, 2),
                "lr": lr,
                "train_loss": loss_sum / max(n_loss, 1),
                "skipped_steps": skipped,
                **{f"val_{k_}": v for k_, v in val.items() if k_.startswith("nll")},
            }
        )
        st.round += 1
        self.bar.set_postfix(val=f"{val['nll']:.2f}", best=f"{st.best_val:.2f}")
        self.bar.write(
            f"[{cfg.objective}] round {st.round - 1} step {st.step} wall {st.elapsed_s:.0f}s "
            f"val_nll {val['nll']:.3f} best {st.best_val:.3f} lr {lr:.2e}"
        )
        if cfg.objective == "ours" and st.bad_rounds >= cfg.patience:
            self.stop = "early_stopping"
        elif cfg.objective == "official" and st.step - st.best_step >= cfg.early_stop_steps:
            self.stop = "early_stopping"
        elif cfg.objective == "official" and st.step >= cfg.max_steps:
            self.stop = "max_steps"
        elif st.round >= self.max_rounds:
            self.stop = "max_rounds"
        elif cfg.time_budget_s is not None and st.elapsed_s >= cfg.time_budget_s:
            self.stop = "time_budget"
        st.stop = self.stop
        _atomic_save(
            {
                "model": model.state_dict(),
                "best_model": self.best_sd,
                **({"ema": self.ema.state_dict()} if self.ema is not None else {}),
                "optimizer": self.opt.state_dict(),
                "scheduler": self.sched.state_dict() if self.sched is not None else {},
                "state": asdict(st),
                "config": self.config,
            },
            self.ckpt_path,
        )
        _write_history(st.history, self.run_dir / "history.csv")
        return bool(self.stop)

    def finish(self, test_data: Any = None, eval_train: bool = False) -> dict:
        """Load the best weights, evaluate val (test, train) NLL, write metrics.json."""
        self.bar.close()
        st, cfg = self.st, self.cfg
        self.model.load_state_dict(self.best_sd)
        metrics: dict[str, Any] = {
            "stop_reason": self.stop,
            "best_val_nll": st.best_val,
            "best_round": st.best_round,
            "best_step": st.best_step,
            "steps": st.step,
            "rounds": st.round,
            "train_wall_s": st.elapsed_s,
            "train_cpu_s": st.cpu_s,
            "n_params": self.model.n_params(),
            "device": str(self.dev),
            "num_threads": cfg.num_threads,
            "host": os.uname().nodename,
            "date": time.strftime("%Y-%m-%d %H:%M:%S"),
            "n_train": len(self.train_data.n_sites),
            "n_val": len(self.val_data.n_sites),
            "machine": machine_info(),
        }
        splits = (("train", self.train_data if eval_train else None), ("val", self.val_data), ("test", test_data))
        for name, d in splits:
            if d is not None:
                metrics[name] = nll_summary(sequence_nll(self.model, d, cfg.test_n_perm, cfg.eval_seed))
        _write_json(metrics, self.run_dir / "metrics.json")
        return metrics


@torch.no_grad()
def _ema_update(ema: WyckoffTransformer, model: WyckoffTransformer, decay: float, step: int) -> None:
    """ema <- d * ema + (1 - d) * model, d = min(decay, (1 + step) / (10 + step)) (short memory at the start)."""
    d = min(decay, (1 + step) / (10 + step))
    for e, p in zip(ema.parameters(), model.parameters(), strict=True):
        e.lerp_(p, 1 - d)
    for e, b in zip(ema.buffers(), model.buffers(), strict=True):
        e.copy_(b)


def train(
    model_cfg: ModelConfig,
    cfg: TrainConfig,
    train_data: Any,
    val_data: Any,
    run_dir: str | Path,
    sg_features: torch.Tensor | None = None,
    vocab: Any = None,
    test_data: Any = None,
    extra_config: dict | None = None,
    progress: bool = True,
    eval_train: bool = False,
) -> dict:
    """Train (or resume) a run in ``run_dir`` to its end; returns the metrics dict (also in metrics.json)."""
    tr = Trainer(model_cfg, cfg, train_data, val_data, run_dir, sg_features, vocab, extra_config, progress)
    while not tr.round():
        pass
    return tr.finish(test_data, eval_train)


def training_subset(data, fraction: float, seed: int = 0):
    """A seeded random subset of `fraction` of the structures (at least one), in their original order."""
    if not (isinstance(fraction, (int, float)) and math.isfinite(fraction) and 0 < fraction <= 1):
        raise ValueError(f"train_fraction must be a number in (0, 1], not {fraction!r}")
    n = len(data)
    if fraction == 1:
        return data
    k = max(1, round(fraction * n))
    idx = torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:k].sort().values
    return data.subset(idx)


def train_dataset(
    dataset: str = "mp_20_biternary_open",
    run_dir: str | Path = "output/runs/default",
    cfg: TrainConfig | None = None,
    model: ModelConfig | None = None,
    max_structures: int | None = None,
    progress: bool = True,
    n_jobs: int | None = None,
    train_fraction: float = 1.0,
) -> dict:
    """Load a data set with wylib.data, size the model to its vocabulary, train, report train/val/test NLL."""
    cfg = cfg or TrainConfig()
    tr_data, vocab = load_encoded(dataset, "train", max_structures=max_structures, n_jobs=n_jobs)
    n_full = len(tr_data)
    tr_data = training_subset(tr_data, train_fraction, cfg.seed)
    va_data, _ = load_encoded(dataset, "val", vocab=vocab, max_structures=max_structures, n_jobs=n_jobs)
    te_data, _ = load_encoded(dataset, "test", vocab=vocab, max_structures=max_structures, n_jobs=n_jobs)
    feats = spacegroup_features()
    mcfg = replace(
        model or ModelConfig.default(),
        n_elements=vocab.n_elements,
        n_site_symmetries=vocab.n_site_symmetries,
        n_enumerations=vocab.n_enumerations,
        n_sg_features=feats.shape[1],
    )
    dropped = {s: len(getattr(d, "dropped", [])) for s, d in (("train", tr_data), ("val", va_data), ("test", te_data))}
    extra = {
        "dataset": dataset,
        "max_structures": max_structures,
        "dropped": dropped,
        "train_fraction": train_fraction,
        "n_train_full": n_full,
    }
    cfg = replace(cfg, max_sites=vocab.max_sites)
    return train(mcfg, cfg, tr_data, va_data, run_dir, feats, vocab, te_data, extra, progress, eval_train=True)


def _official_loss(
    model: WyckoffTransformer,
    sg: torch.Tensor,
    E: torch.Tensor,
    S: torch.Tensor,
    C: torch.Tensor,
    n: torch.Tensor,
    k: int,
    fld: int,
) -> torch.Tensor:
    """Summed loss of one cascade field at prefix length k over the batch (one query token)."""
    B = E.shape[0]
    K = max(k, 1)
    kk = torch.full((B,), k, device=E.device)
    logits = model.cascade_logits(sg, E[:, :K], S[:, :K], C[:, :K], kk, fld, E[:, k], S[:, k])
    lp = F.log_softmax(logits.float(), -1)
    if fld == 0:  # every structure here has n >= k sites: STOP is the target exactly where n == k
        return -(soft_element_target(E, n, kk, lp.shape[-1]) * lp).sum()
    return F.nll_loss(lp, (S if fld == 1 else C)[:, k], reduction="sum")
