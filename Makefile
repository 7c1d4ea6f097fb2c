# The README's commands. Both set up what they need (scripts/setup.sh is idempotent).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
OUT ?= out

.PHONY: setup test test-fast lint typecheck colcon-check clean

setup:
	@bash scripts/setup.sh

test: setup lint typecheck
	@bash scripts/ros_env.sh $(PY) -m pytest -q tests

test-fast: setup
	@bash scripts/ros_env.sh $(PY) -m pytest -q -x tests -m "not slow"

lint: setup
	@$(VENV)/bin/ruff check gesture_ros tests launch
	@$(VENV)/bin/ruff format --check gesture_ros tests launch

typecheck: setup
	@$(VENV)/bin/mypy gesture_ros

colcon-check: setup
	@bash scripts/colcon_check.sh

clean:
	rm -rf build install log $(OUT) .mypy_cache .ruff_cache .pytest_cache
