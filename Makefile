# The README's commands. They set up what they need (scripts/setup.sh is idempotent).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup test lint typecheck clean

setup:
	@bash scripts/setup.sh

test: setup lint typecheck
	@bash scripts/ros_env.sh $(PY) -m pytest -q tests

lint: setup
	@$(VENV)/bin/ruff check gesture_ros tests
	@$(VENV)/bin/ruff format --check gesture_ros tests

typecheck: setup
	@$(VENV)/bin/mypy gesture_ros

clean:
	rm -rf build install log .mypy_cache .ruff_cache .pytest_cache
