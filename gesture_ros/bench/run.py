"""``python -m gesture_ros.bench`` / ``gesture-ros bench``: one run, every figure and ratio.

Order per frame size: raw inference and the core pipeline (interleaved, ``--rounds`` times), the
fused graph and the separate-node graph over DDS, MediaPipe Hands. Every ratio compares figures
taken in this run, on the same frames.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import random
import time
from pathlib import Path
from typing import Any

import numpy as np

from .. import paths
from ..bringup import node_env
from ..core.model_spec import load_models
from ..factory import camera_pipeline, parameter_values, pipeline
from . import frames as bench_frames
from .inproc import as_messages, core_pass, peak_rss_mb, raw_pass, rss_over, schedule
from .parts import SHARED
from .report import chart_png, print_table


def summary(per_frame_rounds: list[list[float]]) -> dict[str, Any]:
    """fps (median over rounds of frames / total time) and per-frame percentiles over all rounds."""
    fps = [len(r) / (sum(r) / 1e3) for r in per_frame_rounds if r]
    flat = np.concatenate([np.asarray(r) for r in per_frame_rounds]) if per_frame_rounds else np.zeros(0)
    return {
        "fps": float(np.median(fps)) if fps else float("nan"),
        "ms_per_frame": float(np.mean(flat)) if flat.size else float("nan"),
        **{f"p{q}_ms": float(np.percentile(flat, q)) if flat.size else float("nan") for q in (50, 90, 99)},
    }


def median_ratio(a: list[list[float]], b: list[list[float]]) -> float:
    """Median over rounds of fps(a) / fps(b), each pair measured back to back."""
    return float(np.median([sum(x) / sum(y) for x, y in zip(a, b, strict=True)]))


def _percentiles(name: str, values: list[float]) -> dict[str, float]:
    v = np.asarray(values, dtype=np.float64)
    return {f"{name}_p{q}_ms": float(np.percentile(v, q)) if v.size else float("nan") for q in (50, 90)}


def graph_entry(run: Any) -> dict[str, Any]:
    """A graph's figures; each ratio and added latency against the raw pass of the same round."""
    lat = np.asarray(run.latency_ms, dtype=np.float64)
    raw = np.asarray(run.raw_ms, dtype=np.float64)
    raw_fps = np.array([len(r) / (sum(r) / 1e3) for r in run.raw_ms])
    fps = np.asarray(run.saturated_fps if run.saturated_fps else run.closed_fps)
    ok = np.isfinite(lat)
    return {
        "fps": float(np.median(fps)),
        "fps_vs_raw": float(np.median(fps / raw_fps)),
        "closed_loop_fps": float(np.median(run.closed_fps)),
        "closed_loop_vs_raw": float(np.median(np.asarray(run.closed_fps) / raw_fps)),
        "raw_fps": float(np.median(raw_fps)),
        "open_loop": {
            "camera_hz": run.saturate_hz,
            "published": run.saturated_published,
            "fps": run.saturated_fps,
            **_percentiles("latency", [x for r in run.saturated_latency_ms for x in r]),
        },
        "camera": None
        if run.camera is None
        else {
            **{k: v for k, v in run.camera.items() if k != "latency_ms"},
            **_percentiles("latency", run.camera["latency_ms"]),
        },
        **{f"latency_p{q}_ms": float(np.percentile(lat[ok], q)) if ok.any() else float("nan") for q in (50, 90, 99)},
        # per frame: its latency through the graph minus its raw inference time in the same round
        **{
            f"added_latency_p{q}_ms": float(np.percentile((lat - raw)[ok], q)) if ok.any() else float("nan")
            for q in (50, 90)
        },
        "lost": run.lost,
        "startup_s": run.startup_s,
        "peak_rss_mb": run.peak_rss_mb,
        "stages_ms_p50": run.stages_ms,
    }


def ros_environment() -> None:
    """A private DDS domain on localhost and the shipped shared-memory profile (big images)."""
    os.environ.setdefault("ROS_DOMAIN_ID", str(random.randint(120, 200)))
    os.environ.setdefault("ROS_LOCALHOST_ONLY", "1")
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    os.environ.update(node_env())  # the same Fast DDS profile the bring-up gives its nodes
    os.environ.setdefault("ROS_LOG_DIR", str(Path(os.environ.get("TMPDIR", "/tmp")) / "gesture_ros_bench_logs"))


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="gesture-ros bench", description=__doc__)
    p.add_argument(
        "--json", type=Path, default=Path("out/bench/bench.json"), help="results (the PNG chart goes beside it)"
    )
    p.add_argument("--video", type=Path, default=None, help="frames: a video (default: the package's sample video)")
    p.add_argument(
        "--clip-frames", type=int, default=60, help="and the first N frames of each real clip of --videos (0: none)"
    )
    p.add_argument("--sizes", nargs="*", default=list(bench_frames.SIZES), choices=list(bench_frames.SIZES))
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds of raw / core")
    p.add_argument("--graphs", nargs="*", default=["fused", "separate"], choices=["fused", "separate"])
    p.add_argument(
        "--saturate",
        type=float,
        default=1.3,
        help="open-loop camera rate / closed-loop rate for throughput (0: closed loop only)",
    )
    p.add_argument(
        "--camera-hz", type=float, default=30.0, help="and once at this camera rate, a robot's camera (0: not)"
    )
    p.add_argument(
        "--rss-frames", type=int, default=1000, help="frames through the fused graph while its RSS is sampled"
    )
    p.add_argument(
        "--core-rss-frames", type=int, default=0, help="frames through the core pipeline while RSS is sampled"
    )
    p.add_argument("--mediapipe-venv", type=Path, default=Path(".venv-mediapipe"), help="'' to skip MediaPipe")
    p.add_argument(
        "--ap-data",
        type=Path,
        default=SHARED,
        help="../shared/data: hand AP50 on the shipped detector's validation frames (hands_detect/ + gestures/)",
    )
    p.add_argument(
        "--params-file", default="config/gesture_ros.yaml", help="parameters of the pipeline and of the graphs' nodes"
    )
    p.add_argument("--videos", type=Path, default=SHARED.parent / "videos", help="real clips (../shared/videos)")
    p.add_argument("--mode-frames", type=int, default=90, help="frames of each clip per speed mode (0: no modes)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    t_start = time.monotonic()
    ros_environment()
    values = parameter_values(args.params_file)
    models = load_models(paths.resolve(values["models_file"]))
    pipe = pipeline(values, models)
    video = args.video or paths.share_dir() / "samples" / "hands_demo.mp4"
    clips = args.videos if args.videos.is_dir() else None
    srcs = bench_frames.sources(video, clips, args.clip_frames)
    mode = {"interval": int(values["detector.interval"]), "reuse_frames": int(values["classifier.reuse_frames"])}
    result: dict[str, Any] = {
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
            "python": platform.python_version(),
        },
        "frames": {"sources": [{"path": p, "frames": n} for p, n in srcs]},
        "speed_mode": mode,  # the params file's speed mode: every pass and graph below runs it
        "sizes": {},
        "ratios": {},
    }
    driver = None
    if args.graphs:
        from .dds import Driver

        driver = Driver(
            values["gestures_topic"] if values["gestures_topic"].startswith("/") else "/" + values["gestures_topic"]
        )
    for name in args.sizes:
        size = bench_frames.SIZES[name]
        frames = as_messages(bench_frames.load(srcs, size))
        core_pass(pipe, frames[:5])  # warm-up
        schedule(camera_pipeline(pipe, values), frames)  # what each core pass runs (fresh state every pass)
        raw_rounds: list[list[float]] = []
        core_rounds: list[list[float]] = []
        stages: dict[str, list[float]] = {}
        core_cpu = 0.0
        for _ in range(args.rounds):
            raw_rounds.append(raw_pass(pipe, frames))
            c0 = time.process_time()
            core_rounds.append(core_pass(camera_pipeline(pipe, values), frames, stages))
            core_cpu += time.process_time() - c0
        entry: dict[str, Any] = {
            "frames": len(frames),
            "hands_per_frame": float(np.mean([f.hands for f in frames])),  # crops classified
            "detector_frames": int(sum(f.detect for f in frames)),
            "raw": summary(raw_rounds),
            "core": {
                **summary(core_rounds),
                "cpu_ms_per_frame": core_cpu * 1e3 / (len(frames) * args.rounds),  # this process, all threads
                "stages_ms_p50": {k: float(np.median(v)) for k, v in stages.items()},
            },
            "ratios": {"core_vs_raw": median_ratio(raw_rounds, core_rounds)},
        }
        for kind in args.graphs:
            from .dds import run_graph

            assert driver is not None
            rss_n = args.rss_frames if (kind == "fused" and name == args.sizes[0]) else 0
            raw = functools.partial(raw_pass, pipe, frames)
            run = run_graph(kind, frames, driver, raw, rounds=args.rounds, rss_frames=rss_n, saturate=args.saturate,
                            params_file=str(paths.resolve(args.params_file)), camera_hz=args.camera_hz)  # fmt: skip
            entry[kind] = graph_entry(run)
            if run.rss is not None:
                entry[kind]["rss"] = run.rss
            entry["ratios"][f"{kind}_vs_raw"] = entry[kind]["fps_vs_raw"]
        if args.core_rss_frames and name == args.sizes[0]:
            entry["core"]["rss"] = rss_over(pipe, frames, args.core_rss_frames)
        result["sizes"][name] = entry
        print(f"[bench] {name}: done ({time.monotonic() - t_start:.0f} s)", flush=True)
    if driver is not None:
        driver.close()
    clip_size = bench_frames.SIZES[args.sizes[0]]
    if args.mode_frames > 0 and args.videos.is_dir():
        from .modes import LABELLED_BAG, labelled_modes, run_modes

        result["speed_modes"] = run_modes(values, models, args.videos, clip_size, args.mode_frames)
        bag = paths.share_dir() / LABELLED_BAG
        if bag.is_dir():  # AP50 per mode where every frame is labelled
            labelled = labelled_modes(args.params_file, bag)
            for row in result["speed_modes"]["modes"]:
                row.update({f"bag_{k}": v for k, v in labelled[(row["interval"], row["reuse_frames"])].items()})
            result["speed_modes"]["labelled_bag"] = str(bag)
        print(f"[bench] speed modes: done ({time.monotonic() - t_start:.0f} s)", flush=True)
    elif args.mode_frames > 0:
        print(f"[bench] speed modes skipped: no clips in {args.videos} (../shared/videos)", flush=True)
    result["bench_process_peak_rss_mb"] = peak_rss_mb()  # holds every frame of every size: not the pipeline's
    mp_python = args.mediapipe_venv / "bin" / "python"
    if str(args.mediapipe_venv) not in ("", ".") and not mp_python.is_file():
        print(
            f"[bench] MediaPipe skipped: no venv at {args.mediapipe_venv} (make setup-mediapipe creates it)", flush=True
        )
    elif str(args.mediapipe_venv) not in ("", "."):
        from .parts import MP_BOX_MARGIN, run_ours, scores, shipped_validation
        from .peer import mediapipe_boxes, run_mediapipe

        metrics = json.loads((paths.share_dir() / "models" / "metrics.json").read_text())
        labelled = (args.ap_data / "hands_detect" / "images").is_dir()
        images = shipped_validation(args.ap_data, metrics) if labelled else []
        spec = {
            "sources": srcs,
            "sizes": {n: bench_frames.SIZES[n] for n in args.sizes},
            "rounds": args.rounds,
            "warmup": 5,
        }
        if "speed_modes" in result:
            spec["clips"] = {
                "paths": result["speed_modes"]["clips"],
                "size": list(clip_size),
                "frames": args.mode_frames,
            }
        mp_spec = {**spec, "max_hands_fps": 2, "max_hands_ap": 4, "box_margin": MP_BOX_MARGIN}
        mp = run_mediapipe(args.mediapipe_venv, mp_spec, images)
        result["mediapipe"] = {"version": mp["version"], "rss_mb": mp["rss_mb"], "ap50": mp["ap50"], "ap70": mp["ap70"]}
        result["hand_ap"] = {"images": len(images), "scenes": metrics["detector"]["val_scenes"]}
        if images:
            ours = scores(run_ours(pipe.detector, images)[0], images)
            result["hand_ap"]["ours"] = ours["all"]
            result["hand_ap"]["parts"] = {"ours": ours, "mediapipe": scores(mediapipe_boxes(mp, images), images)}
        if not images:
            print(f"[bench] no labelled images under {args.ap_data}: hand AP50 not measured", flush=True)
        if "clips" in mp:
            modes = result["speed_modes"]
            modes["mediapipe"] = mp["clips"]
            for row in modes["modes"]:
                row["fps_vs_mediapipe"] = row["fps"] / mp["clips"]["fps"]
                row["cpu_vs_mediapipe"] = row["cpu_ms_per_frame"] / mp["clips"]["cpu_ms_per_frame"]
        for name in args.sizes:
            s = {**summary(mp["fps"][name]["ms_per_frame"]), "cpu_ms_per_frame": mp["fps"][name]["cpu_ms_per_frame"]}
            result["sizes"][name]["mediapipe"] = s
            result["sizes"][name]["ratios"]["fps_vs_mediapipe"] = result["sizes"][name]["core"]["fps"] / s["fps"]
            for kind in args.graphs:
                result["sizes"][name]["ratios"][f"{kind}_fps_vs_mediapipe"] = (
                    result["sizes"][name][kind]["fps"] / s["fps"]
                )
    first = result["sizes"][args.sizes[0]]
    result["ratios"] = {"size": args.sizes[0], **first["ratios"]}
    result["seconds"] = time.monotonic() - t_start
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2))
    chart_png(args.json.with_suffix(".png"), result)
    print_table(result)
    print(f"[bench] {args.json} and {args.json.with_suffix('.png')} ({result['seconds']:.0f} s)")
    return 0
