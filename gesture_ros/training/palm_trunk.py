"""A hand-pretrained trunk for the detector: MediaPipe's palm detector (BlazePalm, Apache-2.0)
read from its ``.tflite`` into torch layers.

Why: three labelled egocentric videos cannot teach a from-scratch trunk what an unseen video's
hands look like (models/README.md, leave-one-video-out). The palm detector inside the
``mediapipe`` wheel was trained on far more hands; its stride-16 feature map (after the
feature-pyramid merge, where its own 12x12 palm heads branch off at 192x192) carries the
DetectNet_v2 coverage and bbox heads here instead of the palm anchors.

The graph is read once (``read_palm_graph``, needs the ``tflite`` package) into a small JSON-able
description that the checkpoint keeps in its config, so a saved model rebuilds without the
``.tflite`` file. Every op the trunk uses is a plain torch op (convolutions with TensorFlow's
SAME padding, PReLU, channel padding, max-pooling, bilinear upsampling), so the model exports to
ONNX like the ResNet one. The weights are float16 in the file (DEQUANTIZE ops); they are widened
to float32 here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class TrunkOptions:
    """Where a trainer's trunk starts and how fast it learns (both trainers' configs extend this)."""

    #: start the trunk from MediaPipe's hand-pretrained palm detector instead of a from-scratch
    #: ResNet: "full" / "lite" (the mediapipe wheel's, make setup-mediapipe) or a .tflite path
    palm_tflite: str = ""
    #: palm trunk only: leading stride-2 stages kept frozen (``freeze_palm_stages``)
    palm_frozen_stages: int = 2
    #: the trunk's learning rate as a fraction of ``lr`` (a pretrained trunk: below 1)
    trunk_lr_scale: float = 1.0


#: the palm detector's feature map at stride 16 (its palm_16 heads read it): 256 channels
PALM_CUT = "p_re_lu_27"

#: where the trunk is cut for a detector of each output stride (config/models.yaml's ``stride``):
#: 16, the map above; 8, the map its palm_8 heads read (the stride-16 map upsampled and added to
#: the stride-8 one, two residual blocks on; 128 channels)
PALM_CUTS = {16: PALM_CUT, 8: "p_re_lu_30"}


def palm_cut(stride: int) -> str:
    """The tensor to cut the palm trunk at for a detector of this output stride."""
    if stride not in PALM_CUTS:
        raise ValueError(f"the palm trunk has feature maps at strides {sorted(PALM_CUTS)}, not {stride}")
    return PALM_CUTS[stride]


#: input sides must be multiples of this: five stride-2 steps, and the stride-32 map is upsampled
#: onto the stride-16 one
PALM_MULTIPLE = 32


def tf_same_pad(size: int, k: int, s: int) -> tuple[int, int]:
    """TensorFlow's SAME padding (before, after) of one side: the odd pixel goes after."""
    total = max((math.ceil(size / s) - 1) * s + k - size, 0)
    return total // 2, total - total // 2


class _Conv(nn.Module):
    """TFLite CONV_2D / DEPTHWISE_CONV_2D. SAME padding is asymmetric on stride 2 (more after);
    it is fixed here for even input sides (``PALM_MULTIPLE``), so the ONNX graph has constant pads,
    and a symmetric one stays inside the convolution (a separate Pad node costs ONNX Runtime time)."""

    def __init__(self, cin: int, cout: int, k: int, stride: int, same: bool, groups: int, act: str) -> None:
        super().__init__()
        before, after = tf_same_pad(2 * PALM_MULTIPLE, k, stride) if same else (0, 0)
        inner = before if before == after else 0
        self.conv = nn.Conv2d(cin, cout, k, stride, inner, groups=groups, bias=True)
        self.pad = (0, 0, 0, 0) if before == after else (before, after, before, after)
        self.act = act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if any(self.pad):
            x = F.pad(x, self.pad)
        y = self.conv(x)
        return F.relu(y) if self.act == "relu" else F.relu6(y) if self.act == "relu6" else y


class _PReLU(nn.Module):
    """PReLU written as max(x, 0) + a * min(x, 0): the same function (``weight`` as nn.PReLU
    names it), but ONNX Runtime runs these two clips 3.3x faster than its PRelu kernel here."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.full((channels,), 0.25))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.clamp(x, min=0) + self.weight.view(1, -1, 1, 1) * torch.clamp(x, max=0)


class _PadChannels(nn.Module):
    """BlazeBlock's skip path: zero channels appended so it can be added to a wider branch."""

    def __init__(self, before: int, after: int) -> None:
        super().__init__()
        self.before, self.after = before, after

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pad(x, (0, 0, 0, 0, self.before, self.after))


class _Up2(nn.Module):
    def __init__(self, align_corners: bool) -> None:
        super().__init__()
        self.align_corners = align_corners

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=self.align_corners)


def _layer(node: dict[str, Any]) -> nn.Module:
    op = node["op"]
    if op == "conv":
        return _Conv(node["cin"], node["cout"], node["k"], node["stride"], node["same"], node["groups"], node["act"])
    if op == "prelu":
        return _PReLU(node["channels"])
    if op == "maxpool":
        return nn.MaxPool2d(node["k"], node["stride"], ceil_mode=True)
    if op == "pad_channels":
        return _PadChannels(node["before"], node["after"])
    if op == "up2":
        return _Up2(node["align_corners"])
    if op == "add":
        return nn.Identity()
    raise ValueError(f"palm trunk: unknown op {op!r}")


class PalmTrunk(nn.Module):
    """The palm detector's graph up to ``PALM_CUT`` (stride 16), run node by node.

    ``graph`` is ``read_palm_graph``'s description: nodes in execution order, each reading
    tensors by index (0 is the image) and writing one. The input stays the package's [0, 1] RGB
    (the palm detector's own range).
    """

    def __init__(self, graph: dict[str, Any]) -> None:
        super().__init__()
        self.graph = graph
        self.nodes = [(n["op"], list(n["inputs"]), int(n["output"]), n.get("act", "none")) for n in graph["nodes"]]
        self.layers = nn.ModuleList(_layer(n) for n in graph["nodes"])
        self.output = int(graph["output"])
        self.out_channels = int(graph["out_channels"])
        self.stride = int(graph["stride"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.jit.is_tracing() and (x.shape[2] % PALM_MULTIPLE or x.shape[3] % PALM_MULTIPLE):
            raise ValueError(f"palm trunk: input sides must be multiples of {PALM_MULTIPLE}, got {tuple(x.shape[2:])}")
        t: dict[int, torch.Tensor] = {0: x}
        for (op, ins, out, act), layer in zip(self.nodes, self.layers, strict=True):
            if op == "add":
                y = t[ins[0]] + t[ins[1]]
                t[out] = F.relu(y) if act == "relu" else y
            else:
                t[out] = layer(t[ins[0]])
        return t[self.output]


def read_palm_graph(path: Path, cut: str = PALM_CUT) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """The trunk's description and its weights (a ``PalmTrunk`` state dict), read from a palm
    detector ``.tflite`` (``palm_detection_full.tflite`` / ``_lite`` of the mediapipe wheel)."""
    try:
        import tflite  # type: ignore[import-untyped]
    except ImportError as e:  # pragma: no cover - the training requirements install it
        raise RuntimeError("reading a .tflite needs the 'tflite' package (requirements/train.txt)") from e
    buf = Path(path).read_bytes()
    model = tflite.Model.GetRootAsModel(buf, 0)
    g = model.Subgraphs(0)
    names = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
    acts = {0: "none", 1: "relu", 3: "relu6"}

    def options(op: Any, cls: Any) -> Any:
        opts, tab = cls(), op.BuiltinOptions()
        opts.Init(tab.Bytes, tab.Pos)
        return opts

    def raw(i: int) -> np.ndarray | None:
        t = g.Tensors(i)
        data = model.Buffers(t.Buffer()).DataAsNumpy()
        if isinstance(data, int) or data.size == 0:
            return None
        dtype = {0: np.float32, 1: np.float16, 2: np.int32}[t.Type()]
        return (
            np.frombuffer(data.tobytes(), dtype=dtype)
            .reshape(t.ShapeAsNumpy())
            .astype(np.float32 if t.Type() < 2 else np.int32)
        )

    # only the operators the cut depends on: past the stride-16 map the palm heads branch off
    # (reshapes this port does not run) before the stride-8 path goes on
    def op_name(i: int) -> str:
        code = model.OperatorCodes(g.Operators(i).OpcodeIndex())
        return names.get(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()), "?")

    def out_name(i: int) -> str:
        return g.Tensors(int(g.Operators(i).OutputsAsNumpy()[0])).Name().decode()

    ops = range(g.OperatorsLength())
    producer = {int(g.Operators(i).OutputsAsNumpy()[0]): i for i in ops}
    cut_op = next((i for i in ops if op_name(i) != "DEQUANTIZE" and cut in out_name(i)), -1)
    if cut_op < 0:
        raise ValueError(f"palm trunk: no tensor named like {cut!r} in {path}")
    needed, todo = set(), [cut_op]
    while todo:
        i = todo.pop()
        if i in needed:
            continue
        needed.add(i)
        todo += [producer[int(j)] for j in g.Operators(i).InputsAsNumpy() if int(j) in producer]
    const: dict[int, np.ndarray] = {}
    index = {int(g.Inputs(0)): 0}
    nodes: list[dict[str, Any]] = []
    state: dict[str, torch.Tensor] = {}
    out_index = -1
    for i in range(g.OperatorsLength()):
        op = g.Operators(i)
        name = op_name(i)
        ins = [int(j) for j in op.InputsAsNumpy()]
        out = int(op.OutputsAsNumpy()[0])
        if name == "DEQUANTIZE":
            const[out] = raw(ins[0])  # type: ignore[assignment]
            continue
        if i not in needed:  # a branch the cut does not depend on (the palm heads)
            continue
        for j in ins[1:]:
            if j >= 0 and j not in const and (value := raw(j)) is not None:
                const[j] = value
        node: dict[str, Any] = {"inputs": [index[j] for j in ins if j in index], "source": out}
        k = len(nodes)
        if name in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            opts_t = options(op, tflite.Conv2DOptions if name == "CONV_2D" else tflite.DepthwiseConv2DOptions)
            w, b = const[ins[1]], const[ins[2]]
            if name == "CONV_2D":  # [out, kh, kw, in] -> [out, in, kh, kw]
                wt, groups, cin = w.transpose(0, 3, 1, 2), 1, w.shape[3]
            else:  # [1, kh, kw, C] -> [C, 1, kh, kw]
                wt, groups, cin = w.transpose(3, 0, 1, 2), w.shape[3], w.shape[3]
            node.update(
                op="conv",
                cin=int(cin),
                cout=int(wt.shape[0]),
                k=int(w.shape[1]),
                stride=int(opts_t.StrideH()),
                same=opts_t.Padding() == 0,
                groups=int(groups),
                act=acts[opts_t.FusedActivationFunction()],
            )
            state[f"layers.{k}.conv.weight"] = torch.from_numpy(np.ascontiguousarray(wt))
            state[f"layers.{k}.conv.bias"] = torch.from_numpy(b.copy())
        elif name == "PRELU":
            alpha = const[ins[1]].reshape(-1)
            node.update(op="prelu", channels=int(alpha.size))
            state[f"layers.{k}.weight"] = torch.from_numpy(alpha.copy())
        elif name == "ADD":
            node.update(op="add", act=acts[options(op, tflite.AddOptions).FusedActivationFunction()])
        elif name == "MAX_POOL_2D":
            pool = options(op, tflite.Pool2DOptions)
            node.update(op="maxpool", k=int(pool.FilterHeight()), stride=int(pool.StrideH()))
        elif name == "PAD":
            pads = const[ins[1]]  # [[n0, n1], [h0, h1], [w0, w1], [c0, c1]]
            if pads[:3].any():
                raise ValueError(f"palm trunk: only channel padding is supported, got {pads.tolist()}")
            node.update(op="pad_channels", before=int(pads[3, 0]), after=int(pads[3, 1]))
        elif name == "RESIZE_BILINEAR":
            node.update(op="up2", align_corners=bool(options(op, tflite.ResizeBilinearOptions).AlignCorners()))
        else:
            raise ValueError(f"palm trunk: op {name} before the cut {cut!r} is not supported")
        index[out] = k + 1
        node["output"] = k + 1
        nodes.append(node)
        if i == cut_op:
            out_index = k + 1
            break
    last = g.Tensors(out).ShapeAsNumpy()
    in_shape = g.Tensors(g.Inputs(0)).ShapeAsNumpy()
    graph = {"nodes": nodes, "output": out_index, "out_channels": int(last[3]), "stride": int(in_shape[1] // last[1])}
    return graph, state


def freeze_palm_stages(trunk: PalmTrunk, stages: int) -> int:
    """Freeze every layer before the ``stages``-th stride-2 convolution after the first (2: the
    stride-2 and stride-4 layers); returns how many parameters were frozen.

    Why: those layers hold generic low-level features that three training videos should not
    bend, and on a CPU they cost most of the backward pass (5x5 depthwise convolutions at high
    resolution): 2 s instead of 4.5 s a batch of 8 at 288x512 here.
    """
    downs = [k for k, n in enumerate(trunk.graph["nodes"]) if n["op"] == "conv" and n["stride"] == 2]
    end = downs[stages] if 0 < stages < len(downs) else (0 if stages <= 0 else len(trunk.layers))
    frozen = 0
    for layer in list(trunk.layers)[:end]:
        for p in layer.parameters():
            p.requires_grad_(False)
            frozen += p.numel()
    return frozen


def freeze_if_palm(model: nn.Module, stages: int, log: Any, who: str) -> None:
    """``freeze_palm_stages`` on a model whose backbone is a palm trunk (a ResNet trains whole)."""
    trunk = getattr(model, "backbone", None)
    if isinstance(trunk, PalmTrunk) and stages:
        n = freeze_palm_stages(trunk, stages)
        log(f"{who}: palm trunk, {n} parameters of the first {stages} stages frozen")


def resolve_palm_tflite(value: str, venv: Path = Path(".venv-mediapipe")) -> Path:
    """``full`` / ``lite``: that palm detector inside the MediaPipe venv (``make setup-mediapipe``);
    anything else is a path to a ``.tflite``."""
    if value in ("full", "lite"):
        pattern = f"lib/python3*/site-packages/mediapipe/modules/palm_detection/palm_detection_{value}.tflite"
        found = sorted(venv.glob(pattern))
        if not found:
            raise FileNotFoundError(f"no palm_detection_{value}.tflite under {venv}: run `make setup-mediapipe`")
        return found[-1]
    if not Path(value).is_file():
        raise FileNotFoundError(f"palm detector .tflite not found: {value}")
    return Path(value)


def palm_trunk_from_tflite(path: Path, cut: str = PALM_CUT) -> PalmTrunk:
    graph, state = read_palm_graph(path, cut)
    trunk = PalmTrunk(graph)
    trunk.load_state_dict(state)
    return trunk


def channel_counts(graph: dict[str, Any]) -> dict[int, int]:
    """Channels of every tensor of the trunk (0: the RGB image)."""
    ch = {0: 3}
    for n in graph["nodes"]:
        c_in = ch[n["inputs"][0]]
        ch[n["output"]] = {"conv": n.get("cout", 0), "pad_channels": c_in + n.get("before", 0) + n.get("after", 0)}.get(
            n["op"], c_in
        )
    return ch


def channel_components(graph: dict[str, Any]) -> tuple[dict[int, int], np.ndarray]:
    """Which channels must be pruned together: every (tensor, channel) pair gets a component id.

    Depthwise convolutions, PReLU, pooling and upsampling keep a channel's identity; additions tie
    their inputs' channels together (BlazeBlock's residual stream and the feature-pyramid merges);
    channel padding carries its input channels to an offset. Only a dense convolution starts new
    channels. Returns the first id of each tensor (``offset[t] + c``) and each id's component.
    """
    ch = channel_counts(graph)
    offset, total = {}, 0
    for t in sorted(ch):
        offset[t], total = total, total + ch[t]
    parent = np.arange(total)

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = int(parent[i])
        return i

    def tie(a: int, b: int) -> None:
        parent[find(a)] = find(b)

    for n in graph["nodes"]:
        out, ins = n["output"], n["inputs"]
        if n["op"] == "conv" and n["groups"] == 1:
            continue
        shift = n.get("before", 0) if n["op"] == "pad_channels" else 0
        for t in ins if n["op"] == "add" else ins[:1]:
            for c in range(ch[t]):
                tie(offset[t] + c, offset[out] + shift + c)
    return offset, np.array([find(i) for i in range(total)])


def prune_palm_graph(
    graph: dict[str, Any], state: dict[str, torch.Tensor], keep_component: set[int]
) -> tuple[dict[str, Any], dict[str, torch.Tensor], dict[int, np.ndarray]]:
    """The graph and trunk state dict cut down to the kept channel components
    (``channel_components``); also each tensor's kept channel indices (the heads read the output's)."""
    offset, comp = channel_components(graph)
    ch = channel_counts(graph)
    kept = {t: np.array([c for c in range(ch[t]) if t == 0 or comp[offset[t] + c] in keep_component]) for t in ch}
    nodes: list[dict[str, Any]] = []
    new_state: dict[str, torch.Tensor] = {}
    for k, n in enumerate(graph["nodes"]):
        n = dict(n)
        src, out = kept[n["inputs"][0]], kept[n["output"]]
        p = f"layers.{k}"
        if n["op"] == "conv":
            w, b = state[f"{p}.conv.weight"], state[f"{p}.conv.bias"]
            if n["groups"] == 1:
                w = w[torch.as_tensor(out)][:, torch.as_tensor(src)]
                n.update(cin=len(src), cout=len(out))
            else:  # depthwise: its output channels are its input channels
                w = w[torch.as_tensor(out)]
                n.update(cin=len(out), cout=len(out), groups=len(out))
            new_state[f"{p}.conv.weight"], new_state[f"{p}.conv.bias"] = (
                w.contiguous(),
                b[torch.as_tensor(out)].contiguous(),
            )
        elif n["op"] == "prelu":
            new_state[f"{p}.weight"] = state[f"{p}.weight"][torch.as_tensor(out)].contiguous()
            n.update(channels=len(out))
        elif n["op"] == "pad_channels":
            c_in = ch[n["inputs"][0]]
            n.update(before=int((out < n["before"]).sum()), after=int((out >= n["before"] + c_in).sum()))
        nodes.append(n)
    new_graph = {**graph, "nodes": nodes, "out_channels": len(kept[graph["output"]])}
    return new_graph, new_state, kept
