"""Structured channel pruning by L1 norm, as TAO's ``prune -pth`` does it.

Each conv's output channels are scored by the L1 norm of their filters *with the following batch
norm folded in* (``|gamma| / sqrt(var + eps)`` scales each filter, as TensorRT folds it; the raw
filter norm of a conv followed by batch norm says nothing about the channel's output, since batch
norm rescales it), normalised by the layer's largest norm (TAO's ``max`` normaliser). Channels
under the threshold go. Layers whose outputs are added together (the residual stream of a ResNet
stage: the stem or the down-sample conv plus every block's second conv) must keep the *same*
channels: a channel stays when any of them keeps it (``union``). The kept count is rounded up to
``granularity`` (TensorRT prefers multiples of 8). Heads keep their outputs (the tensors the
runtime reads) and lose inputs only. The pruned model is then retrained
(``gesture-train detector --init-from pruned.pt``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from .layers import model_layers
from .models import DetectNetV2, build_model
from .palm_trunk import PalmTrunk, channel_components, channel_counts, prune_palm_graph


def channel_scores(weight: torch.Tensor, bn: nn.BatchNorm2d | None = None) -> np.ndarray:
    """L1 norm of each output channel's (batch-norm-folded) filter, divided by the layer's largest."""
    norms = weight.detach().abs().reshape(weight.shape[0], -1).sum(dim=1).double()
    if bn is not None:
        assert bn.running_var is not None
        norms = norms * (bn.weight.detach().abs() / torch.sqrt(bn.running_var + bn.eps)).double()
    n = norms.numpy()
    return n / max(float(n.max()), 1e-12)


def choose_channels(
    model: nn.Module, threshold: float, granularity: int = 8, min_channels: int = 8
) -> dict[str, np.ndarray]:
    """Kept output channel indices per group (sorted), the union over each group's layers."""
    mods = dict(model.named_modules())
    by_group: dict[str, list[np.ndarray]] = {}
    for layer in model_layers(model):
        if layer.out_group is not None:
            w = mods[layer.name].weight
            bn = mods[layer.bn] if layer.bn else None
            assert isinstance(w, torch.Tensor) and (bn is None or isinstance(bn, nn.BatchNorm2d))
            by_group.setdefault(layer.out_group, []).append(channel_scores(w, bn))
    keep: dict[str, np.ndarray] = {}
    for group, scores in by_group.items():
        score = np.max(np.stack(scores), axis=0)  # union: the best member's opinion counts
        n = len(score)
        kept = int((score > threshold).sum())
        target = min(n, max(min_channels, int(np.ceil(kept / granularity)) * granularity if kept else min_channels))
        order = np.argsort(-score, kind="stable")
        keep[group] = np.sort(order[:target])
    return keep


def prune_state(model: nn.Module, keep: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """The state dict with every pruned layer sliced to its kept channels."""
    state = {k: v.clone() for k, v in model.state_dict().items()}
    for layer in model_layers(model):
        out_idx = torch.as_tensor(keep[layer.out_group]) if layer.out_group else None
        in_idx = torch.as_tensor(keep[layer.in_group]) if layer.in_group else None
        w = state[f"{layer.name}.weight"]
        if out_idx is not None:
            w = w[out_idx]
            if f"{layer.name}.bias" in state:
                state[f"{layer.name}.bias"] = state[f"{layer.name}.bias"][out_idx]
        if in_idx is not None:
            w = w[:, in_idx]
        state[f"{layer.name}.weight"] = w.contiguous()
        if layer.bn and out_idx is not None:
            for k in ("weight", "bias", "running_mean", "running_var"):
                state[f"{layer.bn}.{k}"] = state[f"{layer.bn}.{k}"][out_idx].contiguous()
    return state


def count_macs(model: nn.Module, input_shape: tuple[int, int, int]) -> int:
    """Multiply-accumulates of one forward pass (convs and linears) at batch 1."""
    total = 0

    def hook(m: nn.Module, _inp: Any, out: torch.Tensor) -> None:
        nonlocal total
        if isinstance(m, nn.Conv2d):
            k = m.kernel_size[0] * m.kernel_size[1] * m.in_channels // m.groups
            total += int(out[0].numel()) * k
        elif isinstance(m, nn.Linear):
            total += m.in_features * m.out_features

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    was_training = model.training
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, *input_shape))
    model.train(was_training)
    for h in handles:
        h.remove()
    return total


def prune_palm(model: DetectNetV2, threshold: float, granularity: int = 8) -> tuple[DetectNetV2, dict[str, Any]]:
    """Prune a palm-trunk detector: channels tied by additions, depthwise convolutions and
    channel padding go together (``channel_components``), scored by the best normalised L1 norm
    of the convolutions writing them (the union rule). Every tensor keeps a multiple of
    ``granularity`` channels (at least one such step): a component spans tensors of different
    widths, so the best remaining components are added until every tensor's count is a
    multiple (unaligned widths ran slower in ONNX Runtime than the unpruned model). The neck and
    the heads lose the inputs the trunk no longer has."""
    trunk = model.backbone
    assert isinstance(trunk, PalmTrunk)
    graph = trunk.graph
    offset, comp = channel_components(graph)
    ch = channel_counts(graph)
    best: dict[int, float] = {}
    for layer, n in zip(trunk.layers, graph["nodes"], strict=True):
        if n["op"] == "conv":
            for c, sc in enumerate(channel_scores(cast(nn.Conv2d, layer.get_submodule("conv")).weight)):
                cid = int(comp[offset[n["output"]] + c])
                best[cid] = max(best.get(cid, 0.0), float(sc))
    keep = {cid for cid, sc in best.items() if sc > threshold}
    changed = True
    while changed:  # terminates: keep only grows, and every full width is a multiple
        changed = False
        for t in ch:
            if not t:  # the image
                continue
            ids = [int(comp[offset[t] + c]) for c in range(ch[t])]
            kept_n = sum(i in keep for i in ids)
            target = min(ch[t], max(granularity, math.ceil(kept_n / granularity) * granularity))
            for i in sorted((i for i in set(ids) if i not in keep), key=lambda i: -best.get(i, 0.0)):
                if kept_n >= target:
                    break
                keep.add(i)
                kept_n += ids.count(i)
                changed = True
    new_graph, trunk_state, kept = prune_palm_graph(graph, trunk.state_dict(), keep)
    idx = torch.as_tensor(kept[graph["output"]])
    state = {f"backbone.{k}": v for k, v in trunk_state.items()}
    for k, v in model.state_dict().items():
        if k.startswith("neck."):
            state[k] = v[idx].contiguous() if v.ndim else v.clone()
        elif k.startswith(("cov.", "bbox.")):
            state[k] = v[:, idx].contiguous() if k.endswith("weight") else v.clone()
    pruned = DetectNetV2(int(model.config["num_classes"]), palm_graph=new_graph)
    pruned.load_state_dict(state)
    counts = {
        "output": {"kept": len(idx), "of": ch[graph["output"]]},
        "components": {"kept": len(keep & set(best)), "of": len(best)},
    }
    return pruned, counts


def prune_model(
    kind: str, checkpoint: dict[str, Any], threshold: float, input_shape: tuple[int, int, int], granularity: int = 8
) -> tuple[nn.Module, dict[str, Any]]:
    """Prune a trained checkpoint; return the smaller model and the before/after report."""
    model = build_model(kind, checkpoint["config"], checkpoint["state_dict"])
    channels: dict[str, Any]
    pruned: nn.Module
    if isinstance(getattr(model, "backbone", None), PalmTrunk):
        assert isinstance(model, DetectNetV2)
        pruned, channels = prune_palm(model, threshold, granularity)
    else:
        keep = choose_channels(model, threshold, granularity, min_channels=granularity)
        pruned = build_model(kind, checkpoint["config"], prune_state(model, keep))
        channels = {g: {"kept": len(k), "of": int(_group_size(model, g))} for g, k in keep.items()}
    params = lambda m: int(sum(p.numel() for p in m.parameters()))  # noqa: E731
    before, after = count_macs(model, input_shape), count_macs(pruned, input_shape)
    n_before, n_after = params(model), params(pruned)
    report: dict[str, Any] = {
        "threshold": threshold,
        "granularity": granularity,
        "params_before": n_before,
        "params_after": n_after,
        "gflops_before": 2 * before / 1e9,
        "gflops_after": 2 * after / 1e9,
        "channels": channels,
    }
    report["params_ratio"] = n_after / n_before
    report["flops_ratio"] = after / before
    return pruned, report


def _group_size(model: nn.Module, group: str) -> int:
    mods = dict(model.named_modules())
    layer = next(la for la in model_layers(model) if la.out_group == group)
    w = mods[layer.name].weight
    assert isinstance(w, torch.Tensor)
    return int(w.shape[0])


def save_pruned(path: Path, model: nn.Module, report: dict[str, Any]) -> None:
    """A checkpoint marked ``pruned``: loading it rebuilds the smaller shapes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {"state_dict": model.state_dict(), "config": getattr(model, "config", {}), "pruned": True, "prune": report},
        path,
    )


@dataclass
class PruneConfig:
    model: str = "runs/detector/detector.pt"  # trained checkpoint (detector.pt / classifier.pt)
    out: str = "runs/detector_pruned"
    kind: str = "detector"  # detector | classifier
    threshold: float = 0.1  # TAO -pth: normalised L1 norm under which a channel goes
    granularity: int = 8  # kept channels per group: a multiple of this
    data: str = ""  # optional: evaluate the pruned (not yet retrained) detector on these images
    val_scenes: list[str] = field(default_factory=list)


def run_prune(cfg: PruneConfig, spec: Any, clustering: Any, log: Any = print) -> dict[str, Any]:
    """Prune, save ``<kind>.pt`` (marked pruned) and its ONNX, report sizes (and AP before retraining)."""
    from .experiment import Experiment
    from .export import export_classifier, export_detector
    from .loop import load_checkpoint

    if cfg.kind not in ("detector", "classifier"):
        raise ValueError(f"kind must be detector or classifier, got {cfg.kind!r}")
    exp = Experiment(cfg.out, cfg, log=log)
    ckpt = load_checkpoint(Path(cfg.model))
    shape = (3, spec.input.height, spec.input.width)
    model, report = prune_model(cfg.kind, ckpt, cfg.threshold, shape, cfg.granularity)
    cast(dict[str, Any], model.config)["pruned"] = True
    save_pruned(exp.dir / f"{cfg.kind}.pt", model, report)
    onnx_name = "hand_detector.onnx" if cfg.kind == "detector" else "gesture_classifier.onnx"
    export = export_detector if cfg.kind == "detector" else export_classifier
    report["onnx_vs_torch_max_abs_diff"] = export(model, spec, exp.dir / onnx_name)
    report["onnx_bytes"] = (exp.dir / onnx_name).stat().st_size
    if cfg.data and cfg.kind == "detector":
        from ..model_eval import evaluate_detector
        from .train_detector import DetectorTrainConfig, split_detection_set

        _, val_s, _ = split_detection_set(DetectorTrainConfig(data=cfg.data, val_scenes=cfg.val_scenes))
        report["val_before_retrain"] = evaluate_detector(exp.dir / onnx_name, spec, val_s, clustering)
    exp.write_json("prune_report.json", report)
    exp.log(
        f"prune: parameters {report['params_before']} -> {report['params_after']} ({report['params_ratio']:.2f}x), "
        f"GFLOPs {report['gflops_before']:.3f} -> {report['gflops_after']:.3f}"
    )
    return report
