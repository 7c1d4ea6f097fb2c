"""Quantisation-aware retraining with explicit Q/DQ, the way TensorRT consumes it.

Batch norm is folded into the convs first (TensorRT folds it too, so the quantised weights are
the ones that run). Every conv then quantises its input per tensor and its weight per output
channel, symmetric int8 (zero point 0), with straight-through gradients
(``torch.fake_quantize_*``). Input ranges are calibrated on training images before the
retraining; weight ranges follow the weights during training and are frozen for export. The
exported ONNX holds QuantizeLinear/DequantizeLinear pairs with constant scales: TensorRT builds
an INT8 engine from it without a calibration cache, and ONNX Runtime runs it on a CPU.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from .layers import model_layers
from .models import ResNet

QMIN, QMAX = -128, 127


class QuantConv2d(nn.Module):
    """A conv with fake-int8 input (per tensor) and weight (per output channel).

    The scales are buffers used as they are (no arithmetic in the forward pass at export), so
    each QuantizeLinear/DequantizeLinear in the ONNX takes an initializer: what TensorRT needs.
    """

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        self.conv = conv
        self.register_buffer("input_scale", torch.ones(()))
        self.register_buffer("weight_scale", torch.ones(conv.out_channels))
        self.register_buffer("input_zero", torch.zeros((), dtype=torch.int32))
        self.register_buffer("weight_zero", torch.zeros(conv.out_channels, dtype=torch.int32))
        self.calibrating = False
        self.input_scale: torch.Tensor
        self.weight_scale: torch.Tensor
        self.input_zero: torch.Tensor
        self.weight_zero: torch.Tensor

    def set_weight_scale(self) -> None:
        self.weight_scale = self.conv.weight.detach().abs().amax(dim=(1, 2, 3)).clamp(min=1e-8) / QMAX

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.conv
        if self.calibrating:
            self.input_scale = torch.maximum(self.input_scale, x.detach().abs().max() / QMAX)
            return c(x)
        if self.training:  # weight ranges follow the weights while they train
            self.set_weight_scale()
        # contiguous: torch 2.13's fake-quantize backward crashes (SIGSEGV, intermittently) on the
        # channels-last tensors the training loop uses
        xq = torch.fake_quantize_per_tensor_affine(x.contiguous(), self.input_scale, self.input_zero, QMIN, QMAX)
        wq = torch.fake_quantize_per_channel_affine(
            c.weight.contiguous(), self.weight_scale, self.weight_zero, 0, QMIN, QMAX
        )
        return F.conv2d(xq, wq, c.bias, c.stride, c.padding, c.dilation, c.groups)


def fold_batch_norm(model: nn.Module) -> nn.Module:
    """Fold each conv's batch norm into its weights and bias (in place; BN becomes Identity).

    A palm-trunk detector has no batch norm in its trunk, only the neck in front of the 1x1
    heads; it is folded forward into them (it cannot go back through the trunk's last PReLU).
    """
    model.eval()
    if isinstance(model.get_submodule("backbone"), ResNet):
        for layer in model_layers(model):
            if not layer.bn:
                continue
            conv, bn = model.get_submodule(layer.name), model.get_submodule(layer.bn)
            assert isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d)
            _replace(model, layer.name, fuse_conv_bn_eval(conv, bn))
            _replace(model, layer.bn, nn.Identity())
    neck = getattr(model, "neck", None)
    if isinstance(neck, nn.BatchNorm2d):
        fold_into_heads(model, neck, [n for n in ("cov", "bbox") if hasattr(model, n)])
        _replace(model, "neck", nn.Identity())
    return model


@torch.no_grad()
def fold_into_heads(model: nn.Module, bn: nn.BatchNorm2d, heads: list[str]) -> None:
    """head(bn(f)) = (W * s) f + (W t + b) for 1x1 heads, with bn(f) = s * f + t per channel."""
    assert bn.running_var is not None and bn.running_mean is not None
    s = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    t = bn.bias - bn.running_mean * s
    for name in heads:
        conv = model.get_submodule(name)
        assert isinstance(conv, nn.Conv2d) and conv.kernel_size == (1, 1) and conv.bias is not None
        conv.bias += conv.weight[:, :, 0, 0] @ t
        conv.weight *= s.reshape(1, -1, 1, 1)


def _replace(model: nn.Module, name: str, new: nn.Module) -> None:
    parent = model.get_submodule(name.rsplit(".", 1)[0]) if "." in name else model
    setattr(parent, name.rsplit(".", 1)[-1], new)


def quantize(model: nn.Module) -> nn.Module:
    """Fold batch norm, then wrap every conv in :class:`QuantConv2d` (in place)."""
    fold_batch_norm(model)
    for name, m in list(model.named_modules()):
        if isinstance(m, nn.Conv2d):
            _replace(model, name, QuantConv2d(m))
    return model


def quant_convs(model: nn.Module) -> list[QuantConv2d]:
    return [m for m in model.modules() if isinstance(m, QuantConv2d)]


@torch.no_grad()
def calibrate(model: nn.Module, batches: Iterable[torch.Tensor]) -> int:
    """Set every conv's input range to the largest |x| seen on these batches; returns the count."""
    qs = quant_convs(model)
    model.eval()
    for q in qs:
        q.calibrating = True
        q.input_scale = torch.zeros(())
        q.set_weight_scale()
    n = 0
    for x in batches:
        model(x)
        n += len(x)
    for q in qs:
        q.calibrating = False
        if float(q.input_scale) == 0.0:
            raise ValueError("calibration saw no input for a conv (no calibration images?)")
    return n
