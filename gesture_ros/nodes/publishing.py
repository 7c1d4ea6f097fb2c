"""Publishing that never takes a node down: RCL publish failures are counted and reported."""

from __future__ import annotations

from typing import Any

from rclpy.publisher import Publisher

from .base import BaseNode


def safe_publish(node: BaseNode, pub: Publisher[Any], msg: Any) -> bool:
    try:
        pub.publish(msg)
        return True
    except Exception as exc:
        node.report("publish_failed", f"failed to publish on {pub.topic_name}: {exc}")
        return False
