"""The per-input sequence of the inference nodes, written once: run -> time -> check -> publish
-> count.

The detector, classifier and fused nodes differ only in what they compute and publish; what
happens around it (a remote backend that is down, an inference that fails, the core's timings,
NaN outputs, publishing that must not take the node down, the output rate and latency) is here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from rclpy.publisher import Publisher

from ..core.errors import BackendUnavailableError, ModelError
from ..core.link import Link
from ..core.pipeline import Timings
from .diagnostics import Diagnostics

R = TypeVar("R")


def safe_publish(diag: Diagnostics, pub: Publisher[Any], msg: Any) -> bool:
    """Publish; an RCL failure (a context shutting down, a full middleware queue) is counted and
    reported instead of leaving the callback."""
    try:
        pub.publish(msg)
        return True
    except Exception as exc:
        diag.report("publish_failed", f"failed to publish on {pub.topic_name}: {exc}")
        return False


class StageRunner:
    """Runs one stage (``detector``, ``classifier``, ``pipeline``) of a node for each input."""

    def __init__(self, diag: Diagnostics, stage: str, latency_ms: Callable[[Any], float]) -> None:
        self.diag = diag
        self.stage = stage
        self.latency_ms = latency_ms

    def run(self, work: Callable[[], R], link: Link | None = None) -> R | None:
        """``work()``, or None after one report: a remote backend that is down (``<stage>_unavailable``,
        ERROR on diagnostics until it is back) or a failed inference (``inference_errors``)."""
        try:
            result = work()
        except BackendUnavailableError as exc:
            self.diag.unavailable(self.stage, exc, link)
            return None
        except ModelError as exc:
            self.diag.report("inference_errors", f"inference failed: {exc}")
            return None
        self.diag.link_outcome(self.stage, link)
        return result

    def record(self, timings: Timings | None = None, **nonfinite: int) -> None:
        """The frame's core timings, and the models' running counts of NaN/inf outputs by stage."""
        if timings is not None:
            self.diag.stats.timings(timings)
        for stage, total in nonfinite.items():
            self.diag.nonfinite(stage, total)

    def publish(self, stamp: Any, *messages: tuple[Publisher[Any], Any]) -> bool:
        """Publish the frame's messages (timed as ``publish``); the output is counted, with its
        latency from ``stamp``, when all of them went out."""
        with self.diag.stats.timed("publish"):
            sent = [safe_publish(self.diag, pub, msg) for pub, msg in messages]
        if all(sent):
            self.diag.stats.output(self.latency_ms(stamp))
        return all(sent)
