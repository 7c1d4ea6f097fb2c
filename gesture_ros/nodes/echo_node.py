"""gesture_echo: prints gestures and gesture events as they are published (the demo's console)."""

from __future__ import annotations

import sys

from gesture_ros_msgs.msg import GestureArray, GestureEvent

from .base import RESULT_QOS, GestureNode, spin_node


def format_gestures(msg: GestureArray) -> str:
    t = f"{msg.header.stamp.sec}.{msg.header.stamp.nanosec:09d}"
    if not msg.gestures:
        return f"[{t} {msg.header.frame_id}] no hands"
    parts = []
    for g in msg.gestures:
        b = g.hand.box
        what = f"{g.label} {g.confidence:.2f}" if g.available else "(not classified)"
        p = g.hand.position
        where = f" xyz ({p.x:.2f}, {p.y:.2f}, {p.z:.2f}) m" if g.hand.position_valid else ""
        parts.append(
            f"#{g.track_id} {what} hand {g.hand.score:.2f} at [{b.x_min:.0f},{b.y_min:.0f},{b.x_max:.0f},{b.y_max:.0f}]"
            + where
        )
    return f"[{t} {msg.header.frame_id}] " + "; ".join(parts)


class EchoNode(GestureNode):
    def __init__(self) -> None:
        super().__init__("gesture_echo", ("gestures_topic", "events_topic"))
        self.create_subscription(GestureArray, self.values["gestures_topic"], self._on_gestures, RESULT_QOS)
        self.create_subscription(GestureEvent, self.values["events_topic"], self._on_event, RESULT_QOS)

    def _on_gestures(self, msg: GestureArray) -> None:
        print(format_gestures(msg), flush=True)

    def _on_event(self, msg: GestureEvent) -> None:
        if msg.motion:
            print(f"MOTION track #{msg.track_id}: {msg.motion}", flush=True)
            return
        prev = msg.previous_label or "-"
        print(f"EVENT track #{msg.track_id}: {prev} -> {msg.gesture.label}", flush=True)


def main(args: list[str] | None = None) -> None:
    spin_node(EchoNode, args if args is not None else sys.argv)


if __name__ == "__main__":
    main()
