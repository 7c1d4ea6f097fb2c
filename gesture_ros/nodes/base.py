"""What every gesture_ros node is made of, composed rather than inherited: its parameters
(:mod:`.parameters`), its diagnostics (:mod:`.diagnostics`), and for the nodes that take images
their input (:mod:`.image_input`); the inference nodes add one :class:`.stage_runner.StageRunner`
and are lifecycle nodes (:class:`ManagedNode`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import rclpy
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.node import Node

from .. import paths
from ..core.errors import ConfigError, GestureRosError
from ..core.link import Link, ReconnectConfig
from ..core.model_spec import ModelsConfig, load_models
from ..core.worker import LatestWorker
from .diagnostics import Diagnostics
from .image_input import IMAGE_QOS, RESULT_QOS, ImageInput
from .parameters import Applies, NodeParameters

__all__ = ["IMAGE_QOS", "RESULT_QOS", "GestureNode", "ManagedNode", "spin_node"]


class GestureNode(Node):
    """A node with its parameters declared from the table (``applies``: the groups it applies at
    runtime, writable here), ``/diagnostics``, and the backends and workers it must close."""

    def __init__(self, name: str, param_names: Iterable[str], applies: Applies = ()) -> None:
        super().__init__(name)
        self.params = NodeParameters(self, ("diagnostics_period", *param_names), applies)
        self.values = self.params.values
        self.diag = Diagnostics(self, float(self.values["diagnostics_period"]))
        self._workers: list[LatestWorker[Any]] = []
        #: inference backends the node built: closed at shutdown (Triton connections, shared
        #: memory regions, TensorRT contexts)
        self.owned_backends: list[Any] = []
        #: set by a node whose work is done (a camera at the end of its file): spin_node returns
        self.finished = False

    def image_input(self) -> ImageInput:
        """The node's image topic, as its parameters say."""
        return ImageInput(self, self.values, self.diag)

    def models(self) -> ModelsConfig:
        """The model descriptions named by ``models_file``."""
        return load_models(paths.resolve(self.values["models_file"]))

    def latency_ms(self, stamp: Any) -> float:
        """Milliseconds from a header stamp to now on the node's clock."""
        now = self.get_clock().now().nanoseconds
        return (now - (int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec))) / 1e6

    @staticmethod
    def remote(*stages: str) -> Callable[[Mapping[str, Any]], bool]:
        """Whether any of ``stages`` runs on Triton, from parameter values."""
        return lambda values: any(values.get(f"{s}.backend") == "triton" for s in stages)

    def set_link_waits(self, wait: ReconnectConfig, *links: Link | None) -> None:
        """Apply a new :class:`~gesture_ros.core.link.ReconnectConfig` to the node's links."""
        for link in links:
            if link is not None:
                link.min_wait, link.max_wait = wait.min_wait, wait.max_wait

    def dispatcher(self, fn: Callable[..., None], remote: bool) -> Callable[..., None]:
        """``fn`` itself, or for a remote backend (Triton) a one-slot worker thread in front of it:
        the executor never waits on the network, the newest input wins and replaced inputs are
        counted (``dropped_stale_frames``)."""
        if not remote:
            return fn
        worker: LatestWorker[tuple[Any, ...]] = LatestWorker(
            lambda args: fn(*args),
            f"{self.get_name()}-worker",
            lambda exc: self.diag.report("worker_errors", f"processing failed: {type(exc).__name__}: {exc}"),
        )
        self._workers.append(worker)

        def submit(*args: Any) -> None:
            if not worker.submit(args):
                self.diag.stats.count("dropped_stale_frames")

        return submit

    def stop_workers(self) -> None:
        """Stop the worker threads (no worker publishes while the node closes)."""
        for w in self._workers:
            w.close()

    def close(self) -> None:
        """Release what the node holds (video files, sources); called before shutdown."""

    def close_backends(self) -> None:
        """Close the inference backends the node built (a connection already gone is said, not raised)."""
        while self.owned_backends:
            backend = self.owned_backends.pop()
            try:
                backend.close()
            except Exception as exc:
                self.get_logger().warning(f"closing {type(backend).__name__}: {exc}")


class ManagedNode(GestureNode, LifecycleNode):
    """An inference node with the ROS 2 lifecycle (the Nav2 convention), driven by
    ``ros2 lifecycle set`` or a lifecycle manager through the standard services:

    - configure: load and check the models (a model that cannot load fails the transition, with
      the reason logged once and on ``/diagnostics``; the node stays unconfigured, retryable);
    - activate: subscribe to the inputs and enable the result publishers;
    - deactivate: unsubscribe (paused: nothing is taken in or published, models stay loaded);
    - cleanup: free the models and their backends (Triton connections, TensorRT contexts).

    With ``autostart`` (the default) the node configures and activates itself as it starts, so a
    user without a lifecycle manager never meets a node that is loaded but does nothing.
    A subclass builds in :meth:`load` and forgets in :meth:`unload`; it sets ``images`` and
    ``on_input`` (or overrides :meth:`subscribe`) and calls :meth:`start` at the end of its
    ``__init__``.
    """

    images: ImageInput
    on_input: Callable[..., None]

    def __init__(self, name: str, param_names: Iterable[str], applies: Applies = ()) -> None:
        super().__init__(name, ("autostart", *param_names), applies)
        self._state("unconfigured")

    def load(self) -> None:
        """Build the node's models (raises GestureRosError / OSError when they cannot load)."""
        raise NotImplementedError

    def subscribe(self) -> None:
        """Start taking input: the images, each to ``on_input``."""
        self.images.subscribe(self.on_input)

    def unsubscribe(self) -> None:
        """Stop taking input."""
        self.images.unsubscribe()

    def unload(self) -> None:
        """Drop the references to the models (their backends are closed by the caller)."""
        raise NotImplementedError

    def start(self) -> None:
        """``autostart``: configure, then activate."""
        if self.values["autostart"] and self.trigger_configure() == TransitionCallbackReturn.SUCCESS:
            self.trigger_activate()

    def _state(self, label: str) -> None:
        self.diag.stats.set_info("lifecycle_state", label)

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            self.load()
        except (GestureRosError, OSError) as exc:
            self.diag.fail(exc)
            self.close_backends()
            self.unload()
            return TransitionCallbackReturn.FAILURE
        self.diag.recovered()
        self._state("inactive")
        return super().on_configure(state)

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.subscribe()
        self._state("active")
        return super().on_activate(state)  # enables the lifecycle publishers

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.unsubscribe()
        self._state("inactive")
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.close_backends()
        self.unload()
        self._state("unconfigured")
        return super().on_cleanup(state)

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.unsubscribe()
        self._state("finalized")
        return TransitionCallbackReturn.SUCCESS


def spin_node(factory: Callable[[], GestureNode], args: list[str] | None = None) -> None:
    """Run a node until SIGINT/SIGTERM or until it says it is finished.

    Signals only set a flag, so the node's ``close()`` (finalising a video, logging what it
    wrote) runs while the ROS context is still valid. A ConfigError from the factory is one
    line and exit code 2.
    """
    import signal
    import sys
    import threading

    from rclpy.executors import SingleThreadedExecutor
    from rclpy.impl.implementation_singleton import rclpy_implementation
    from rclpy.signals import SignalHandlerOptions

    try:
        rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    except rclpy_implementation.RCLError as exc:  # e.g. a params file that is not valid YAML
        print(f"[ERROR] cannot start: {str(exc).split(', at ')[0]}", file=sys.stderr)
        sys.exit(2)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        node = factory()
    except ConfigError as exc:
        print(f"[ERROR] {exc}", file=sys.stderr)
        rclpy.try_shutdown()
        sys.exit(2)
    missing = node.params.missing_appliers()
    if missing:  # a writable group nobody applies: refuse to run rather than ignore changes
        raise RuntimeError(f"{node.get_name()}: no applier for the writable parameter group(s) {', '.join(missing)}")
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        while not stop.is_set() and not node.finished and rclpy.ok():
            executor.spin_once(timeout_sec=0.1)
    finally:
        node.stop_workers()  # no worker publishes while the node closes
        node.close()
        node.close_backends()
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
