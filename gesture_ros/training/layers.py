"""Which convolutions of a model share channels: the plan that pruning and QAT walk.

A layer names its conv, its batch norm and the channel groups it reads and writes; layers that
write the same group (a ResNet stage's residual stream) must keep the same channels. Both
:mod:`.prune` and :mod:`.qat` read this plan, so it sits below them (no import circle).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from .models import ResNet


@dataclass(frozen=True)
class Layer:
    name: str  # conv (or linear) module name
    bn: str | None  # its batch norm
    in_group: str | None  # channel group its input comes from (None: the image)
    out_group: str | None  # channel group it writes (None: a head output, never pruned)


def resnet_layers(backbone: ResNet, prefix: str) -> tuple[list[Layer], str]:
    """The pruning plan of a ResNet trunk and the name of its output channel group."""
    group = "stage0"
    layers = [Layer(f"{prefix}.stem.0", f"{prefix}.stem.1", None, group)]
    for i, blk in enumerate(backbone.layers):
        p = f"{prefix}.layers.{i}"
        inp = group
        if getattr(blk, "down", None) is not None:
            group = f"stage{i + 1}"
            layers.append(Layer(f"{p}.down.0", f"{p}.down.1", inp, group))
        layers.append(Layer(f"{p}.conv1", f"{p}.bn1", inp, f"{p}.mid"))
        layers.append(Layer(f"{p}.conv2", f"{p}.bn2", f"{p}.mid", group))
    return layers, group


def model_layers(model: nn.Module) -> list[Layer]:
    backbone = model.get_submodule("backbone")
    assert isinstance(backbone, ResNet)
    layers, last = resnet_layers(backbone, "backbone")
    heads = [n for n in ("cov", "bbox", "fc") if hasattr(model, n)]
    return layers + [Layer(h, None, last, None) for h in heads]
