"""The soak test's short version (60 s; the 20-minute run is `python -m gesture_ros.bench.soak`):
the separate-node graph fed at 30 Hz, faster than it can classify on this machine."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_one_minute_at_30_hz_no_crash_no_growth_bounded_latency_drops_counted(tmp_path: Path) -> None:
    out = tmp_path / "soak.json"
    cmd = [sys.executable, "-m", "gesture_ros.bench.soak", "--minutes", "1", "--window", "5", "--json", str(out)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    rep = json.loads(out.read_text())
    assert rep["problems"] == []
    w = rep["windows"]
    assert len(w) >= 10 and not any(x["dead"] for x in w)
    assert set(w[-1]["rss_mb"]) == {"hand_detector", "roi", "gesture_classifier"}
    # the graph keeps serving: every warm window delivers, and what it delivers per CPU second is
    # the verdict's (problems == [] above: CPU per delivered frame does not double, latency grows no
    # more than the CPU the graph lost explains); how many frames a window gets depends on the
    # machine's load, so no rate is asserted here (the bench measures rates)
    got = [x["sent"] - x["dropped"] for x in w[1:]]
    assert min(got) > 0, got
    assert all(x["graph_cpu_s"] > 0 and 0 <= x["machine_steal_percent"] <= 100 for x in w)
    assert max(x["latency_p99_ms"] for x in w[1:]) < 1000  # bounded: no backlog builds up
    # RSS: the verdict (problems == [] above) fails growth over the second half only when it goes
    # on in the last quarter; a one-off step of ONNX Runtime's arena that then stays flat is not a
    # leak (test_verdict_tells_a_leak_from_a_warm_up_step). Growth at the end is bounded here too.
    assert rep["rss_growth_last_quarter_mb"] < 2.5
    assert cv2.imread(str(out.with_suffix(".png"))) is not None


def _windows(totals: list[float]) -> list[dict[str, object]]:
    return [
        {"t_s": 5.0 * (i + 1), "rss_mb": {"a": t / 2, "b": t / 2}, "latency_p50_ms": 50.0, "dead": []}
        for i, t in enumerate(totals)
    ]


def test_verdict_tells_a_leak_from_a_warm_up_step() -> None:
    from gesture_ros.bench.soak import verdict

    step = {"windows": _windows([480, 481, 490, *[490.5] * 9]), "gestures": 10}  # +9 MB once, then flat
    assert verdict(step, 5.0) == [] and step["rss_growth_mb"] == 0.0 and step["rss_growth_from_s"] == 35.0
    # a step inside the second half, then flat for its last quarter (seen at 35-45 s of a CI run)
    late = {"windows": _windows([480, 481, 481, 481, 481, 481, 481.5, 485, 487, 487, 487.01]), "gestures": 10}
    assert (
        verdict(late, 5.0) == []
        and late["rss_growth_mb"] == pytest.approx(6.01)
        and late["rss_growth_last_quarter_mb"] < 0.1
    )
    leak = {"windows": _windows([480 + 2.0 * i for i in range(12)]), "gestures": 10}  # 2 MB every window
    problems = verdict(leak, 5.0)
    assert len(problems) == 1 and "second half" in problems[0] and leak["rss_growth_mb"] == 10.0
    assert leak["rss_growth_last_quarter_mb"] == 4.0
    # a leak that starts late still fails (it is growing when the run ends)
    starts = {"windows": _windows([480] * 7 + [482.0, 484.0, 486.0, 488.0, 490.0]), "gestures": 10}
    assert len(verdict(starts, 5.0)) == 1


def test_verdict_tells_a_backlog_from_noisy_latency() -> None:
    from gesture_ros.bench.soak import verdict

    def run(lat: list[float]) -> dict[str, object]:
        w = _windows([480.0] * len(lat))
        for x, v in zip(w, lat, strict=True):
            x["latency_p50_ms"] = v
        return {"windows": w, "gestures": 10}

    # the window p50s of a passing 60 s run, and the same run whose last window swung to 388 ms
    assert verdict(run([234, 320, 249, 200, 229, 205, 236, 195, 207, 177, 151]), 5.0) == []
    assert verdict(run([234, 184, 249, 200, 229, 205, 236, 195, 207, 177, 388]), 5.0) == []
    backlog = verdict(run([100.0 + 60 * i for i in range(11)]), 5.0)  # a queue that keeps growing
    assert len(backlog) == 1 and "latency p50 grew" in backlog[0]


def _measured(got: list[int], cpu: list[float], lat: list[float]) -> dict[str, object]:
    w = _windows([480.0] * len(got))
    for x, g, c, v in zip(w, got, cpu, lat, strict=True):
        x.update(sent=150, dropped=150 - g, graph_cpu_s=c, latency_p50_ms=v)
    return {"windows": w, "gestures": sum(got)}


# a 60 s run of this graph with a CPU-bound process started beside it at 40 s (docs/reliability.md)
CONTENDED = ([67, 67, 77, 70, 72, 76, 71, 57, 46, 45, 45], [8.5, 8.6, 8.8, 8.4, 8.7, 8.9, 8.7, 6.5, 5.5, 5.6, 5.4],
             [124, 127, 117, 120, 114, 117, 125, 151, 165, 160, 171])  # fmt: skip


def test_verdict_tells_lost_cpu_from_a_slower_graph() -> None:
    """Fewer frames because the machine gave the graph less CPU is not a fault of the graph; the
    same deliveries for the same CPU as before, or CPU spent without delivering, are."""
    from gesture_ros.bench.soak import verdict

    got, cpu, lat = CONTENDED
    assert verdict(_measured(got, cpu, lat), 5.0) == []
    wasted = verdict(_measured(got, [*cpu[:7], 17.0, 17.0, 17.0, 17.0], lat), 5.0)  # same frames, 3x the CPU
    assert len(wasted) == 1 and "CPU per delivered frame" in wasted[0]
    # latency doubling while the graph kept its CPU: a backlog, not the machine
    backlog = verdict(_measured([70] * 11, [8.6] * 11, [120.0] * 6 + [300.0] * 5), 5.0)
    assert len(backlog) == 1 and "latency p50 grew" in backlog[0]
    stalled = verdict(_measured([70] * 5 + [0] + [70] * 5, [8.6] * 11, [120.0] * 11), 5.0)
    assert len(stalled) == 1 and "nothing delivered" in stalled[0]
