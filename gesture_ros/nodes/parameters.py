"""A node's parameters: declared from the one table, typed groups handed to their applier.

The table (:data:`gesture_ros.settings.PARAMS`) says what exists; the groups
(:data:`gesture_ros.settings.GROUPS`) say which parameters the core takes together as one frozen
value. A node names the groups it applies at runtime; their parameters are declared writable,
everything else read-only (ROS refuses a change with "read-only"), so no parameter is accepted
and then ignored. A change is checked parameter by parameter and as the whole group, then each
changed group is built once and handed to its one applier (PickNik's
generate_parameter_library does the same from its YAML table).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult
from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException
from rclpy.node import Node
from rclpy.parameter import Parameter

from ..core.errors import GestureRosError
from ..settings import PARAMS, Group, Param, group_of

T = TypeVar("T")
Applies = Iterable[Group[Any]] | Callable[[Mapping[str, Any]], Iterable[Group[Any]]]


def descriptor(p: Param, writable: bool) -> ParameterDescriptor:
    """The ROS descriptor of a table entry: description, choices, range, read-only flag."""
    d = ParameterDescriptor(description=p.description, read_only=not writable)
    if p.choices:
        d.additional_constraints = "one of: " + ", ".join(p.choices)
    if p.min is not None and p.max is not None:
        if isinstance(p.default, float):
            d.floating_point_range = [FloatingPointRange(from_value=float(p.min), to_value=float(p.max), step=0.0)]
        elif isinstance(p.default, int) and not isinstance(p.default, bool):
            d.integer_range = [IntegerRange(from_value=int(p.min), to_value=int(p.max), step=1)]
    return d


class NodeParameters:
    """Declares ``names`` on ``node``; the groups in ``applies`` are writable and need an applier."""

    def __init__(self, node: Node, names: Iterable[str], applies: Applies = ()) -> None:
        """``applies``: the groups, or a function of the start-up values that returns them (the
        Triton reconnect wait is writable only in a node that has a Triton backend)."""
        self.node = node
        self.applies: dict[str, Group[Any]] = {}
        self._appliers: dict[str, Callable[[Any], None]] = {}
        self.values: dict[str, Any] = {}
        wanted = list(dict.fromkeys(names))
        for n in wanted:  # read-only parameters first: they can decide what is writable
            if group_of(n) is None:
                self.values[n] = self._declare(PARAMS[n])
        groups = applies(dict(self.values)) if callable(applies) else applies
        self.applies = {g.name: g for g in groups}
        for n in wanted:
            if n not in self.values:
                self.values[n] = self._declare(PARAMS[n])
        node.add_on_set_parameters_callback(self._validate)
        node.add_post_set_parameters_callback(self._apply)

    def writable(self, name: str) -> bool:
        """Whether this node applies ``name`` at runtime (its group has an applier here)."""
        g = group_of(name)
        return g is not None and g.name in self.applies

    def get(self, group: Group[T]) -> T:
        """The group's current typed value."""
        return group.build(self.values)

    def on_change(self, group: Group[T], applier: Callable[[T], None]) -> None:
        """Register the one function that applies ``group``'s new value (once per group)."""
        if group.name not in self.applies:
            raise ValueError(f"{self.node.get_name()} does not apply the '{group.name}' parameters at runtime")
        if group.name in self._appliers:
            raise ValueError(f"'{group.name}' already has an applier in {self.node.get_name()}")
        self._appliers[group.name] = applier

    def missing_appliers(self) -> list[str]:
        """Writable groups nobody applies (a programming error: checked when the node starts)."""
        return sorted(set(self.applies) - set(self._appliers))

    def _declare(self, p: Param) -> Any:
        """Declare with the override from the params file / command line, if it is valid.

        An invalid override is one error line and the default; an integer given for a float
        parameter (``ratio: 2``) is accepted as the float, and a number given for a string
        parameter (``camera.source:=0``, YAML reads it as an int) as its text.
        """
        desc = descriptor(p, self.writable(p.name))
        value: Any = p.default
        ignore = False
        override = self.node._parameter_overrides.get(p.name)
        if override is not None:
            raw = override.value
            if isinstance(p.default, str) and isinstance(raw, int | float) and not isinstance(raw, bool):
                raw = str(raw)
            why = p.check(raw)
            if why:
                self.node.get_logger().error(f"parameter {why}; using the default {p.default!r}")
            else:
                value = float(raw) if isinstance(p.default, float) else raw
            # declare with our value unless it is exactly the override (type included)
            ignore = bool(why) or type(value) is not type(override.value)
        try:
            return self.node.declare_parameter(p.name, value, desc, ignore_override=ignore).value
        except (InvalidParameterValueException, InvalidParameterTypeException) as exc:
            self.node.get_logger().error(f"parameter {p.name}: {exc}; using the default {p.default!r}")
            return self.node.declare_parameter(p.name, p.default, desc, ignore_override=True).value

    def _validate(self, params: list[Parameter]) -> SetParametersResult:
        proposed = dict(self.values)
        for prm in params:
            spec = PARAMS.get(prm.name)
            if spec is None:
                continue
            why = spec.check(prm.value)
            if why:
                return self._reject(why)
            proposed[prm.name] = prm.value
        for group in self._changed(params):
            try:
                group.build(proposed)  # the values together, as the core will take them
            except (GestureRosError, ValueError) as exc:
                return self._reject(f"{group.name}: {exc}")
        return SetParametersResult(successful=True)

    def _reject(self, why: str) -> SetParametersResult:
        self.node.get_logger().warning(f"rejected parameter change: {why}")
        return SetParametersResult(successful=False, reason=why)

    def _changed(self, params: list[Parameter]) -> list[Group[Any]]:
        names = {g.name: g for p in params if (g := group_of(p.name)) is not None and g.name in self.applies}
        return list(names.values())

    def _apply(self, params: list[Parameter]) -> None:
        for prm in params:
            if prm.name in self.values:
                value = prm.value
                self.values[prm.name] = float(value) if isinstance(PARAMS[prm.name].default, float) else value
        for group in self._changed(params):
            self._appliers[group.name](group.build(self.values))
