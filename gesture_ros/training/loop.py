"""The one training loop both trainers use (AdamW + one-cycle schedule over shuffled batches).

It owns what every experiment needs beside the maths: the device, mixed precision (fp16 +
gradient scaling on CUDA, bf16 on request on a CPU), data-parallel training when started by
``torchrun`` (DDP; each rank takes its own slice of every global batch), checkpoints every N
epochs and an *exact* resume (model, optimizer, schedule, scaler, both random generators and
the history are restored, so 1 + 1 resumed epochs give the same weights as 2 in one go).
"""

from __future__ import annotations

import copy
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

BatchLoss = Callable[[nn.Module, npt.NDArray[np.int64]], torch.Tensor]


@dataclass
class Runtime:
    """Where this process trains: device, precision and its place in a DDP group."""

    device: torch.device
    amp_dtype: torch.dtype | None = None  # autocast dtype, None = full precision
    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def images(self, x: torch.Tensor) -> torch.Tensor:
        """An NCHW image batch on this device, channels-last (what the convolutions run fastest
        on, CPU oneDNN and GPU tensor cores alike; the model is converted by :func:`fit`)."""
        return x.to(self.device).contiguous(memory_format=torch.channels_last)


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 in hardware (AMX or AVX512-BF16): there, bf16 autocast
    with channels-last tensors trains the detector 2.5x faster than float32 (measured on this
    project's Xeon: 816 -> 321 ms per batch of 8); elsewhere it would be emulated and slower."""
    probes = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    try:
        return any(bool(getattr(torch.cpu, p)()) for p in probes if hasattr(torch.cpu, p))
    except RuntimeError:
        return False


def make_runtime(device: str = "auto", amp: str = "auto") -> Runtime:
    """``device``: auto | cpu | cuda; ``amp``: auto (fp16 on CUDA, bf16 on a CPU with native
    bf16, else off) | off | fp16 | bf16.

    Under ``torchrun`` (``WORLD_SIZE`` > 1) the process group is initialised here: NCCL with one
    GPU per local rank on CUDA, gloo on CPUs.
    """
    dev = torch.device(
        "cuda" if (device == "auto" and torch.cuda.is_available()) else ("cpu" if device == "auto" else device)
    )
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if world > 1:
        import torch.distributed as dist

        if dev.type == "cuda":
            dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
            torch.cuda.set_device(dev)
        if not dist.is_initialized():
            dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    dtypes = {"off": None, "fp16": torch.float16, "bf16": torch.bfloat16}
    if amp == "auto":
        amp_dtype = torch.float16 if dev.type == "cuda" else (torch.bfloat16 if cpu_has_native_bf16() else None)
    elif amp in dtypes:
        amp_dtype = dtypes[amp]
    else:
        raise ValueError(f"amp must be one of auto, off, fp16, bf16; got {amp!r}")
    if amp_dtype == torch.float16 and dev.type != "cuda":
        raise ValueError("amp=fp16 needs CUDA; use amp=bf16 on a CPU")
    return Runtime(dev, amp_dtype, rank, world)


class EmaWeights:
    """Exponential moving average of a model's weights and batch-norm statistics.

    Small data sets make the last weights of a run depend on its last few batches; the average
    over the last few hundred steps generalises better and costs nothing at inference. The
    decay warms up (``(1 + n) / (10 + n)``, as TensorFlow's ExponentialMovingAverage) so early
    random weights are forgotten quickly. Integer buffers (batch counts) are copied.
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must be in (0, 1), got {decay}")
        self.decay = decay
        self.updates = 0
        self.shadow = {k: v.detach().clone() for k, v in model.state_dict().items()}

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.updates += 1
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        for k, v in model.state_dict().items():
            s = self.shadow[k]
            if s.dtype.is_floating_point:
                s.mul_(d).add_(v.detach().to(s.dtype), alpha=1.0 - d)
            else:
                s.copy_(v)

    def to(self, device: torch.device | str) -> EmaWeights:
        self.shadow = {k: v.to(device) for k, v in self.shadow.items()}
        return self

    def state_dict(self) -> dict[str, Any]:
        return {"decay": self.decay, "updates": self.updates, "shadow": self.shadow}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.decay, self.updates = float(state["decay"]), int(state["updates"])
        self.shadow = {k: v.clone() for k, v in state["shadow"].items()}

    def swap_into(self, model: nn.Module) -> dict[str, torch.Tensor]:
        """Load the averaged weights into ``model``; returns the model's own (last-step) weights."""
        raw = {k: v.detach().clone() for k, v in model.state_dict().items()}
        model.load_state_dict(self.shadow)
        return raw


def _to_memory_format(model: nn.Module, fmt: torch.memory_format) -> None:
    """4-D weights in ``fmt`` (``Module.to(memory_format=...)``, which the type stubs lack)."""
    for p in model.parameters():
        if p.dim() == 4:
            p.data = p.data.contiguous(memory_format=fmt)


def with_state(model: nn.Module, state: dict[str, torch.Tensor]) -> nn.Module:
    """A copy of ``model`` holding ``state`` (e.g. the last-step weights beside the EMA ones)."""
    other = copy.deepcopy(model)
    other.load_state_dict(state)
    return other


def unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def _save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)  # a crash mid-write never leaves a truncated last.pt


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Tensors, numbers and strings only (``weights_only``): no code runs from the file."""
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    ckpt: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=True)
    return ckpt


def load_matching(model: nn.Module, checkpoint: Path) -> int:
    """Copy every tensor of ``checkpoint`` whose name and shape match into ``model``; the rest
    keeps its initialisation (a new head). Returns how many tensors were copied."""
    state = load_checkpoint(checkpoint)["state_dict"]
    own = model.state_dict()
    matching = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    own.update(matching)
    model.load_state_dict(own)
    return len(matching)


def rank_slice(order: npt.NDArray[np.int64], step: int, batch: int, rank: int, world: int) -> npt.NDArray[np.int64]:
    """The items rank ``rank`` trains on at ``step``: its slice of the step's global batch."""
    start = (step * world + rank) * batch
    return order[start : start + batch]


def step_runs(n_items: int, step: int, batch: int, world: int) -> bool:
    """Whether every rank trains at ``step``: a step is skipped when *any* rank's slice has
    fewer than two items (batch norm needs two). Decided from the sizes alone, so all ranks
    decide alike: a rank that skipped on its own while the others called backward would leave
    their gradient all-reduce waiting for it for ever (the last partial batch of a classifier
    epoch, drop_last=False, did that)."""
    starts = [(step * world + r) * batch for r in range(world)]
    return min(max(0, min(batch, n_items - s)) for s in starts) >= 2


def fit(
    model: nn.Module,
    n_items: int,
    batch_loss: BatchLoss,
    *,
    epochs: int,
    batch: int,
    lr: float,
    weight_decay: float,
    rng: np.random.Generator,
    name: str,
    runtime: Runtime | None = None,
    checkpoint_dir: Path | None = None,
    checkpoint_every: int = 0,
    resume: Path | None = None,
    log: Callable[[str], Any] = print,
    log_every: int = 1,
    drop_last: bool = True,
    progress: bool = False,
    ema: EmaWeights | None = None,
    trunk_lr_scale: float = 1.0,
) -> tuple[list[dict[str, float]], float]:
    """Train ``model`` in place; ``batch_loss(net, indices)`` builds a batch on the runtime's
    device, runs ``net`` (the DDP wrapper when distributed) and returns the loss.

    Returns the per-epoch history and the training time in seconds (including the epochs of a
    resumed run). A step where any rank has fewer than two items is skipped on every rank
    (:func:`step_runs`).
    ``checkpoint_every`` N > 0 writes ``epoch_NNN.pt`` every N epochs and ``last.pt`` after
    each of them into ``checkpoint_dir``; ``resume`` continues from such a file. ``ema`` is
    updated after every optimizer step and saved in (and restored from) the checkpoints; the
    model keeps its last-step weights (the caller decides which to keep: ``ema.swap_into``).
    ``trunk_lr_scale`` scales the learning rate of ``model.backbone`` (a pretrained trunk learns
    slower than the fresh heads on it).
    """
    rt = runtime or make_runtime("cpu", "off")
    _to_memory_format(model.to(rt.device), torch.channels_last)
    if ema is not None:
        ema.to(rt.device)
    net: nn.Module = model
    if rt.distributed:
        net = nn.parallel.DistributedDataParallel(
            model, device_ids=[rt.device.index] if rt.device.type == "cuda" else None
        )
    scaled = trunk_lr_scale != 1.0 and hasattr(model, "backbone")
    trunk = {id(p) for p in model.get_submodule("backbone").parameters()} if scaled else set()
    trunk_params = [p for p in model.parameters() if id(p) in trunk]
    other_params = [p for p in model.parameters() if id(p) not in trunk]
    group_lrs = [(ps, g_lr) for ps, g_lr in ((trunk_params, lr * trunk_lr_scale), (other_params, lr)) if ps]
    groups: list[dict[str, Any]] = [{"params": ps, "lr": g_lr} for ps, g_lr in group_lrs]
    opt = torch.optim.AdamW(groups, lr=lr, weight_decay=weight_decay)
    global_batch = batch * rt.world_size
    steps = max(1, n_items // global_batch if drop_last else int(np.ceil(n_items / global_batch)))
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=[g_lr for _, g_lr in group_lrs], total_steps=max(1, epochs * steps), pct_start=0.15
    )
    scaler = torch.amp.GradScaler("cuda", enabled=rt.amp_dtype == torch.float16)
    history: list[dict[str, float]] = []
    start_epoch, elapsed_before = 0, 0.0
    if resume is not None:
        ckpt = load_checkpoint(resume)
        model.load_state_dict(ckpt["state_dict"])
        opt.load_state_dict(ckpt["optimizer"])
        sched.load_state_dict(ckpt["scheduler"])
        scaler.load_state_dict(ckpt["scaler"])
        rng.bit_generator.state = ckpt["numpy_rng"]
        torch.set_rng_state(ckpt["torch_rng"])
        if "cuda_rng" in ckpt and rt.device.type == "cuda":
            torch.cuda.set_rng_state(ckpt["cuda_rng"], rt.device)
        if ema is not None:
            if "ema" not in ckpt:
                raise ValueError(f"{resume} was written without EMA weights; resume with ema: 0 or start afresh")
            ema.load_state_dict(ckpt["ema"])
            ema.to(rt.device)
        history = list(ckpt["history"])
        start_epoch = int(ckpt["epoch"])
        elapsed_before = float(history[-1]["time_s"]) if history else 0.0
        log(f"{name}: resumed from {resume} at epoch {start_epoch}/{epochs}")
    t0 = time.time() - elapsed_before
    for epoch in range(start_epoch, epochs):
        net.train()
        # every rank must draw the same order; augmentation randomness stays per rank
        order = (rng if not rt.distributed else np.random.default_rng([epoch, 12345])).permutation(n_items)
        losses = []
        bar = _progress(range(steps), f"{name} {epoch + 1}/{epochs}", progress and rt.is_main)
        for b in bar:
            idx = rank_slice(order, b, batch, rt.rank, rt.world_size)
            if not step_runs(len(order), b, batch, rt.world_size):
                continue
            with torch.autocast(rt.device.type, dtype=rt.amp_dtype or torch.float32, enabled=rt.amp_dtype is not None):
                loss = batch_loss(net, idx)
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            sched.step()
            if ema is not None:
                ema.update(model)
            losses.append(loss.item())
        history.append(
            {"epoch": epoch + 1, "loss": float(np.mean(losses)) if losses else float("nan"), "time_s": time.time() - t0}
        )
        if rt.is_main and ((epoch + 1) % log_every == 0 or epoch == 0):
            log(f"{name} epoch {epoch + 1}/{epochs} loss {history[-1]['loss']:.4f} ({time.time() - t0:.0f} s)")
        if (
            checkpoint_every
            and checkpoint_dir is not None
            and rt.is_main
            and ((epoch + 1) % checkpoint_every == 0 or epoch + 1 == epochs)
        ):
            checkpoint_dir.mkdir(parents=True, exist_ok=True)
            state = {
                "epoch": epoch + 1,
                "epochs": epochs,
                "state_dict": model.state_dict(),
                "config": getattr(model, "config", {}),
                "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(),
                "scaler": scaler.state_dict(),
                "numpy_rng": rng.bit_generator.state,
                "torch_rng": torch.get_rng_state(),
                "history": history,
            }
            if ema is not None:
                state["ema"] = ema.state_dict()
            if rt.device.type == "cuda":
                state["cuda_rng"] = torch.cuda.get_rng_state(rt.device)
            _save_checkpoint(checkpoint_dir / f"epoch_{epoch + 1:03d}.pt", state)
            _save_checkpoint(checkpoint_dir / "last.pt", state)
    _to_memory_format(model.to("cpu"), torch.contiguous_format)
    if ema is not None:
        ema.to("cpu")
    return history, time.time() - t0


def _progress(it: range, desc: str, enabled: bool) -> Any:
    """A tqdm bar on a terminal (training steps take minutes on a CPU), plain iteration otherwise."""
    if not enabled:
        return it
    try:
        from tqdm import tqdm
    except ImportError:
        return it
    return tqdm(it, desc=desc, leave=False, disable=None)
