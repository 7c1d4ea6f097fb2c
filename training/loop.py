"""The one training loop both trainers use (AdamW + one-cycle schedule over shuffled batches)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import nn


def fit(
    model: nn.Module,
    n_items: int,
    batch_loss: Callable[[npt.NDArray[np.int64]], torch.Tensor],
    *,
    epochs: int,
    batch: int,
    lr: float,
    weight_decay: float,
    rng: np.random.Generator,
    name: str,
    log: Callable[[str], Any] = print,
    log_every: int = 1,
    drop_last: bool = True,
) -> tuple[list[dict[str, float]], float]:
    """Train ``model`` in place; ``batch_loss(indices)`` builds a batch and returns its loss.

    Returns the per-epoch history and the training time in seconds. Batches of fewer than two
    items are skipped (batch norm needs two).
    """
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    steps = max(1, n_items // batch if drop_last else int(np.ceil(n_items / batch)))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * steps, pct_start=0.15)
    t0 = time.time()
    history: list[dict[str, float]] = []
    for epoch in range(epochs):
        model.train()
        order = rng.permutation(n_items)
        losses = []
        for b in range(steps):
            idx = order[b * batch : (b + 1) * batch]
            if len(idx) < 2:
                continue
            loss = batch_loss(idx)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            losses.append(loss.item())
        history.append({"epoch": epoch + 1, "loss": float(np.mean(losses)), "time_s": time.time() - t0})
        if (epoch + 1) % log_every == 0 or epoch == 0:
            log(f"{name} epoch {epoch + 1}/{epochs} loss {np.mean(losses):.4f} ({time.time() - t0:.0f} s)")
    return history, time.time() - t0
