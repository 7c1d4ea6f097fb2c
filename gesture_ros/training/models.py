"""ResNet backbones (written here: there is no CPU torchvision) and the two heads.

``DetectNetV2``: ResNet-18/34 trunk at stride 16 (the last stage keeps stride 1, as TAO's
DetectNet_v2 does), a sigmoid coverage head [C, H/16, W/16] and a linear bbox head
[4C, H/16, W/16]. ``GestureNet``: ResNet trunk, global pooling, softmax over the classes.
``width`` scales every stage's channels for CPU-sized models.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .palm_trunk import PalmTrunk

DEPTHS = {10: (1, 1, 1, 1), 18: (2, 2, 2, 2), 34: (3, 4, 6, 3)}


class PointwiseConv(nn.Conv2d):
    """A 1x1 convolution with a stride (ResNet's downsample path), trained as "subsample the
    input, then a stride-1 1x1 convolution": the same maths, another oneDNN kernel.

    Why: oneDNN 3.12 (torch 2.13's CPU build) corrupts the heap in the ``jit_1x1:avx512_core``
    backward-weights kernel of a *strided* 1x1 convolution on channels-last fp32 input with
    fewer than 16 input channels (SIGSEGV / "free(): invalid size", intermittently, on every
    AVX-512 CPU without AMX; reproduction in docs/reliability.md). The stride-1 kernel and the
    AVX2 one are sound. Export keeps the one strided ``Conv`` node the ONNX always had.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Any = 1,
        stride: Any = 1,
        padding: Any = 0,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, *args, **kwargs)
        if self.kernel_size != (1, 1) or self.padding != (0, 0) or self.dilation != (1, 1):
            raise ValueError(f"PointwiseConv is a 1x1 convolution without padding, got {self}")

    def _conv_forward(self, input: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        if self.stride == (1, 1) or torch.onnx.is_in_onnx_export():
            return super()._conv_forward(input, weight, bias)
        sh, sw = self.stride
        return F.conv2d(input[:, :, ::sh, ::sw], weight, bias, 1, 0, 1, self.groups)


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.down: nn.Module | None = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(PointwiseConv(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        idt = x if self.down is None else self.down(x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return self.relu(y + idt)


class ResNet(nn.Module):
    """``stride``: the output stride, 32 (classification), 16 or 8 (a DetectNet_v2 grid: the
    last stage, then the last two, keep stride 1 as TAO's detection trunks do)."""

    def __init__(self, depth: int = 18, width: float = 1.0, stride: int = 32) -> None:
        super().__init__()
        if depth not in DEPTHS:
            raise ValueError(f"ResNet depth must be one of {sorted(DEPTHS)}, got {depth}")
        chans = [max(8, round(c * width)) for c in (64, 128, 256, 512)]
        self.stem = nn.Sequential(
            nn.Conv2d(3, chans[0], 7, 2, 3, bias=False),
            nn.BatchNorm2d(chans[0]),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2, 1),
        )
        layers: list[nn.Module] = []
        cin = chans[0]
        if stride not in (8, 16, 32):
            raise ValueError(f"a ResNet trunk has output stride 8, 16 or 32, not {stride}")
        self.stride = stride
        downs = {8: (), 16: (2,), 32: (2, 3)}[stride]  # stages 2 and 3 halve the map when asked
        for i, (n, c) in enumerate(zip(DEPTHS[depth], chans, strict=True)):
            first = 2 if i == 1 or i in downs else 1
            for j in range(n):
                layers.append(BasicBlock(cin, c, first if j == 0 else 1))
                cin = c
        self.layers = nn.Sequential(*layers)
        self.out_channels = cin
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(self.stem(x))


class DetectNetV2(nn.Module):
    """``palm_graph`` (``gesture_ros.training.palm_trunk.read_palm_graph``) swaps the ResNet for MediaPipe's
    hand-pretrained palm-detector trunk; ``depth`` and ``width`` are then unused."""

    def __init__(
        self,
        num_classes: int = 1,
        depth: int = 18,
        width: float = 1.0,
        palm_graph: dict[str, Any] | None = None,
        stride: int = 16,
    ) -> None:
        super().__init__()
        self.backbone: ResNet | PalmTrunk
        if palm_graph is not None:
            self.backbone = PalmTrunk(palm_graph)  # its stride is where the graph was cut
        else:
            self.backbone = ResNet(depth, width, stride)
        c = self.backbone.out_channels
        # the palm trunk has no batch norm and its features reach |30|: normalise them for the heads
        self.neck: nn.Module = nn.BatchNorm2d(c) if palm_graph is not None else nn.Identity()
        self.cov = nn.Conv2d(c, num_classes, 1)
        self.bbox = nn.Conv2d(c, 4 * num_classes, 1)
        assert self.cov.bias is not None and self.bbox.bias is not None
        nn.init.constant_(self.cov.bias, -4.0)  # start from "no hand anywhere"
        nn.init.normal_(self.bbox.weight, std=0.01)
        nn.init.constant_(self.bbox.bias, 0.5)
        self.config: dict[str, Any] = {"num_classes": num_classes, "depth": depth, "width": width}
        if palm_graph is not None:
            self.config["palm_graph"] = palm_graph
        elif stride != 16:  # checkpoints before strides were configurable are stride 16
            self.config["stride"] = stride

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.neck(self.backbone(x))
        return torch.sigmoid(self.cov(f)), self.bbox(f)


class GestureNet(nn.Module):
    """``palm_graph`` swaps the ResNet for the palm-detector trunk (as in ``DetectNetV2``), with a
    batch-norm neck before the pooling. ``input_affine`` ((a, b) per channel: ``x * a + b``) maps
    the classifier's configured normalisation onto the [0, 1] range the palm trunk was trained on,
    inside the model, so config/models.yaml stays the one statement of the input."""

    def __init__(
        self,
        num_classes: int = 6,
        depth: int = 10,
        width: float = 0.5,
        palm_graph: dict[str, Any] | None = None,
        input_affine: tuple[list[float], list[float]] | None = None,
    ) -> None:
        super().__init__()
        self.backbone: ResNet | PalmTrunk
        self.backbone = PalmTrunk(palm_graph) if palm_graph is not None else ResNet(depth, width, stride=32)
        c = self.backbone.out_channels
        self.neck: nn.Module = nn.BatchNorm2d(c) if palm_graph is not None else nn.Identity()
        self.dropout = nn.Dropout(0.2)
        self.fc = nn.Linear(c, num_classes)
        self.affine: bool = input_affine is not None
        self.affine_scale: torch.Tensor
        self.affine_shift: torch.Tensor
        if input_affine is not None:  # buffers: they follow the model to its device; not saved (config holds them)
            for name, v in zip(("affine_scale", "affine_shift"), input_affine, strict=True):
                self.register_buffer(name, torch.tensor(v, dtype=torch.float32).reshape(1, -1, 1, 1), persistent=False)
        self.config: dict[str, Any] = {"num_classes": num_classes, "depth": depth, "width": width}
        if palm_graph is not None:
            self.config["palm_graph"] = palm_graph
        if input_affine is not None:
            self.config["input_affine"] = [list(map(float, v)) for v in input_affine]

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        if self.affine:
            x = x * self.affine_scale + self.affine_shift
        f = self.neck(self.backbone(x)).mean(dim=(2, 3))
        return self.fc(self.dropout(f))

    def forward(self, x: torch.Tensor, logits: bool = False) -> torch.Tensor:
        """Softmax probabilities (what GestureNet outputs); raw logits for the training loss."""
        z = self.logits(x)
        return z if logits else torch.softmax(z, dim=1)


def conform_to_state(model: nn.Module, state: dict[str, torch.Tensor]) -> nn.Module:
    """Replace every conv / batch-norm / linear layer whose saved shape differs (a pruned
    checkpoint) by one of the saved shape, so ``load_state_dict`` can take the file as it is."""
    for name, module in list(model.named_modules()):
        w = state.get(f"{name}.weight")
        if (
            w is None
            or not isinstance(module, nn.Conv2d | nn.BatchNorm2d | nn.Linear)
            or module.weight.shape == w.shape
        ):
            continue
        new: nn.Module
        if isinstance(module, nn.Conv2d):
            k, st, pad = module.kernel_size, module.stride, module.padding
            new = type(module)(
                w.shape[1] * module.groups,
                w.shape[0],
                (k[0], k[1]),
                (st[0], st[1]),
                pad if isinstance(pad, str) else (pad[0], pad[1]),
                bias=module.bias is not None,
            )
        elif isinstance(module, nn.BatchNorm2d):
            new = nn.BatchNorm2d(w.shape[0])
        else:
            new = nn.Linear(w.shape[1], w.shape[0], bias=module.bias is not None)
        parent = model.get_submodule(name.rsplit(".", 1)[0]) if "." in name else model
        setattr(parent, name.rsplit(".", 1)[-1], new)
    return model


def build_model(kind: str, config: dict[str, Any], state: dict[str, torch.Tensor] | None = None) -> nn.Module:
    """The model a checkpoint describes (``config`` as saved), pruned shapes included."""
    cls = {"detector": DetectNetV2, "classifier": GestureNet}[kind]
    extra = {k: config[k] for k in ("palm_graph", "input_affine", "stride") if config.get(k)}
    model = cls(**{k: config[k] for k in ("num_classes", "depth", "width")}, **extra)
    if state is not None:
        conform_to_state(model, state)
        model.load_state_dict(state)
    return model
