"""The training steps never crash the process, on any x86-64 CPU.

oneDNN 3.12 (torch 2.13) corrupts the heap in its ``jit_1x1:avx512_core`` backward-weights
kernel of a strided 1x1 convolution on channels-last fp32 input with fewer than 16 input
channels (ResNet's downsample path at the tests' widths): SIGSEGV or SIGABRT, intermittently,
on AVX-512 CPUs without AMX. ``gesture_ros.training.models.PointwiseConv`` runs that layer as subsample +
stride-1 kernel. The steps run in subprocesses, so a crash is a failing test with its signal,
not a dead test session.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

import pytest
from ros_harness import ROOT

torch = pytest.importorskip("torch")

from gesture_ros.training.models import PointwiseConv  # noqa: E402

# the training loop's own path: channels-last model and batches, AdamW, the tests' narrowest trunk
STEPS = textwrap.dedent(
    """
    import sys
    import numpy as np
    import torch
    from gesture_ros.training.loop import fit, make_runtime
    from gesture_ros.training.models import DetectNetV2, GestureNet

    amp = sys.argv[1]
    torch.manual_seed(0)
    for model, shape in ((DetectNetV2(1, 18, 0.125), (3, 288, 512)), (GestureNet(6, 18, 0.125), (3, 160, 160))):
        x = torch.rand(8, *shape)

        def loss(net, idx):
            out = net(x[torch.from_numpy(idx)].contiguous(memory_format=torch.channels_last))
            outs = out if isinstance(out, tuple) else (out,)
            return sum(o.float().square().mean() for o in outs)

        fit(model, 8, loss, epochs=6, batch=4, lr=1e-3, weight_decay=1e-4, rng=np.random.default_rng(0), name="guard",
            runtime=make_runtime("cpu", amp), log=lambda _: None)
    print("trained")
    """
)


def _signal_name(rc: int) -> str:
    return signal.Signals(-rc).name if rc < 0 and -rc in signal.Signals._value2member_map_ else f"exit {rc}"


@pytest.mark.parametrize("amp", ["off", "bf16"])
def test_training_steps_repeated_never_crash(amp: str) -> None:
    """Three fresh processes, each 12 steps of both trunks (the crash above hit 5 of 5 runs of 20)."""
    for run in range(3):
        r = subprocess.run([sys.executable, "-c", STEPS, amp], cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0 and "trained" in r.stdout, (
            f"run {run + 1}/3 ({amp}) died with {_signal_name(r.returncode)}: {r.stderr[-1500:]}"
        )


@pytest.mark.parametrize("stride", [1, 2])
def test_pointwise_conv_is_the_strided_convolution(stride: int) -> None:
    """Same outputs and gradients as ``nn.Conv2d(cin, cout, 1, stride)`` (the reference runs in
    NCHW, whose kernels are sound); the ONNX keeps one strided Conv."""
    torch.manual_seed(0)
    ref = torch.nn.Conv2d(8, 16, 1, stride, bias=True)
    ours = PointwiseConv(8, 16, 1, stride, bias=True)
    ours.load_state_dict(ref.state_dict())
    ours = ours.to(memory_format=torch.channels_last)
    x = torch.rand(2, 8, 36, 64)
    xr, xo = x.clone().requires_grad_(), x.clone().contiguous(memory_format=torch.channels_last).requires_grad_()
    yr, yo = ref(xr), ours(xo)
    assert yo.shape == yr.shape
    (yr * torch.arange(yr.numel()).view_as(yr).sin()).sum().backward()
    (yo * torch.arange(yo.numel()).view_as(yo).sin()).sum().backward()
    # fp32 sums of 8 products (outputs) and of 2 x 18 x 32 products (weight gradient): a few ulps
    for a, b in ((yo, yr), (xo.grad, xr.grad), (ours.weight.grad, ref.weight.grad), (ours.bias.grad, ref.bias.grad)):
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="1x1"):
        PointwiseConv(8, 16, 3, 2)


def test_pointwise_conv_exports_one_strided_conv(tmp_path) -> None:
    onnx = pytest.importorskip("onnx")
    conv = PointwiseConv(8, 16, 1, 2, bias=False).eval()
    torch.onnx.export(conv, (torch.rand(1, 8, 16, 16),), str(tmp_path / "c.onnx"), dynamo=False)
    nodes = onnx.load(str(tmp_path / "c.onnx")).graph.node
    assert [n.op_type for n in nodes] == ["Conv"]
    assert [list(a.ints) for a in nodes[0].attribute if a.name == "strides"] == [[2, 2]]
