# The README's commands. Both set up what they need (scripts/setup.sh is idempotent).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
OUT ?= out

.PHONY: setup setup-triton setup-mediapipe setup-ros-tools bench bench-multicam compare-mediapipe run-triton run run-separate test test-fast lint typecheck colcon-check train clean

setup:
	@bash scripts/setup.sh

## the local Triton server's own venv (pytriton pins numpy<2)
setup-triton:
	@bash scripts/setup_triton.sh

## MediaPipe Hands in its own venv, the peer the benchmark compares against
setup-mediapipe:
	@bash scripts/setup_mediapipe.sh

## run: the demo on the built-in default (CPU, ONNX Runtime, committed sample video):
## prints gestures as they are published and writes $(OUT)/demo_annotated.mp4
run: setup
	@mkdir -p $(OUT)
	@bash scripts/ros_env.sh $(PY) -m gesture_ros.cli up config/graph_fused.yaml \
	  camera_source:=samples/hands_demo.mp4 camera_rate:=10.0 echo:=true \
	  video_path:=$(OUT)/demo_annotated.mp4
	@ls -l $(OUT)/demo_annotated.mp4

## the same with one process per stage
run-separate: setup
	@mkdir -p $(OUT)
	@bash scripts/ros_env.sh $(PY) -m gesture_ros.cli up config/graph_separate.yaml \
	  camera_source:=samples/hands_demo.mp4 camera_rate:=10.0 echo:=true \
	  video_path:=$(OUT)/demo_annotated_separate.mp4

## the demo with gesture classification through a local tritonserver (model repository from training/)
run-triton: setup setup-triton
	@mkdir -p $(OUT)
	@$(VENV)/bin/gesture-train triton-repo --out build/model_repo >/dev/null
	@bash scripts/ros_env.sh $(PY) -m gesture_ros.cli up config/graph_fused.yaml \
	  camera_source:=samples/hands_demo.mp4 camera_rate:=10.0 echo:=true video_path:=$(OUT)/demo_annotated_triton.mp4 \
	  --triton-repo build/model_repo

## the real `ros2 launch` / `ros2 topic|param|run|lifecycle` from ../shared/third_party/ros2 for the
## tests (not on PyPI; skipped with a note when that folder is absent; a robot has its own)
setup-ros-tools: setup
	@bash scripts/setup_ros_tools.sh

## bench-multicam: one fused node serving 1, 2, 4 cameras against one fused node per camera
## (fps per camera, latency, CPU, memory); writes $(OUT)/bench/multicam.json
bench-multicam: setup
	@bash scripts/ros_env.sh $(PY) -m gesture_ros.bench.multicam --json $(OUT)/bench/multicam.json

## compare-mediapipe: hand AP50/AP70 of the shipped detector and of MediaPipe Hands on each part of
## the detector's validation (unseen HaGRID people at a distance, unseen SubhiH places), in one run;
## writes $(OUT)/bench/parts.json and prints the table of models/README.md (about a minute)
compare-mediapipe: setup setup-mediapipe
	@$(PY) -m gesture_ros.bench.parts --json $(OUT)/bench/parts.json

## bench: the performance benchmark (raw inference, core, fused and separate graphs over DDS, MediaPipe);
## writes $(OUT)/bench/bench.json + bench.png, prints the table (4 to 9 minutes on a 2-core CPU)
bench: setup setup-mediapipe
	@bash scripts/ros_env.sh $(PY) -m gesture_ros.bench --json $(OUT)/bench/bench.json

test: setup setup-triton setup-mediapipe setup-ros-tools lint typecheck
	@bash scripts/ros_env.sh $(PY) -m pytest -q tests

test-fast: setup
	@bash scripts/ros_env.sh $(PY) -m pytest -q -x tests -m "not slow"

lint: setup
	@$(VENV)/bin/ruff check gesture_ros tests launch benchmarks
	@$(VENV)/bin/ruff format --check gesture_ros tests launch benchmarks

typecheck: setup
	@$(VENV)/bin/mypy gesture_ros

## train: retrain both default models on ../shared/data and publish them into models/
## (detector: MediaPipe's palm-detector trunk + DetectNet_v2 heads, 10 epochs -> prune -> 3 epochs
## retraining the pruned model -> 2 epochs fine-tuning without mosaics; classifier: 30 epochs on
## the same trunk, started from the stage-1 detector); about 40 minutes on a 2-core CPU.
## `make train QUICK=1`: the same six steps at 1 epoch on 2 images of each scene and 8 crops of
## each class (a few minutes), into runs/quick and $(OUT)/models_quick: the shipped models stay
QUICK ?=
RUNS := $(if $(QUICK),runs/quick,runs)
MODELS_OUT := $(if $(QUICK),$(OUT)/models_quick,models)
DET_QUICK := $(if $(QUICK),--epochs 1 --limit 2)
CLS_QUICK := $(if $(QUICK),--epochs 1 --limit-per-class 8)
TRAIN := $(VENV)/bin/gesture-train
train: setup setup-mediapipe
	@$(TRAIN) detector --config gesture_ros/training/default_detector.yaml --out $(RUNS)/detector $(DET_QUICK)
	@$(TRAIN) prune --model $(RUNS)/detector/detector.pt --threshold 0.7 --out $(RUNS)/detector_pruned
	@$(TRAIN) detector --config gesture_ros/training/retrain_detector.yaml --init-from $(RUNS)/detector_pruned/detector.pt \
	  --out $(RUNS)/detector_retrained $(DET_QUICK)
	@$(TRAIN) detector --config gesture_ros/training/finetune_detector.yaml --init-from $(RUNS)/detector_retrained/detector.pt \
	  --out $(RUNS)/detector_finetuned $(DET_QUICK)
	@$(TRAIN) classifier --config gesture_ros/training/default_classifier.yaml --init-from $(RUNS)/detector/detector.pt \
	  --out $(RUNS)/classifier $(CLS_QUICK)
	@$(TRAIN) publish --detector $(RUNS)/detector_finetuned --classifier $(RUNS)/classifier --models-dir $(MODELS_OUT)

colcon-check: setup
	@bash scripts/colcon_check.sh

clean:
	rm -rf build install log $(OUT) .mypy_cache .ruff_cache .pytest_cache
