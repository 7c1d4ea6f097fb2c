"""Offline training of the package's models (PyTorch, CPU or CUDA).

Pre-processing, ROI expansion and decoding are imported from :mod:`gesture_ros.core`, so a
model is trained on exactly the tensors the runtime will feed it and evaluated with the
runtime's decoder.
"""
