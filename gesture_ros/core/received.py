"""Hands that arrive in messages from other nodes, checked at the boundary.

Any publisher can put anything on a topic: NaN, infinities, corners swapped, boxes a million
pixels away, scores of 7, boxes made for another image size. Each check returns one line per
problem; the hand it concerns stays in the output (nothing is dropped silently) but is marked
unusable (``roi_valid`` False, no gesture) and its numbers are made safe to compute with, draw
and publish again (finite, within reach of the frame).
"""

from __future__ import annotations

import numpy as np

from .pipeline import Hand, attach_rois
from .roi import RoiConfig, check_received_roi

#: boxes may overhang the frame (a hand at the edge); beyond this many frame sizes they are nonsense
REACH = 1.0


def check_size(msg_size: tuple[int, int], frame_w: int, frame_h: int) -> str | None:
    """Why hands made for ``msg_size`` cannot be used on a ``frame_w`` x ``frame_h`` image (0 x 0:
    the sender did not say; accepted)."""
    if all(msg_size) and tuple(msg_size) != (frame_w, frame_h):
        return f"detections for a {msg_size[0]}x{msg_size[1]} image arrived with a {frame_w}x{frame_h} image"
    return None


def check_hand(hand: Hand, frame_w: int, frame_h: int) -> tuple[list[str], bool]:
    """One hand's problems, and whether its box can be used (finite, ordered, within
    :data:`REACH` frames of the image). A valid ROI must be finite and within reach too; the
    score and the gesture confidence must lie in [0, 1]. A bad box or ROI makes the hand
    unclassifiable, a bad confidence its gesture unavailable."""
    problems = []
    w, h = frame_w, frame_h
    lo = np.array([-REACH * w, -REACH * h] * 2, np.float32)
    hi = np.array([(1 + REACH) * w, (1 + REACH) * h] * 2, np.float32)
    box = np.asarray(hand.box, np.float32).reshape(4)
    if not np.isfinite(box).all():
        problems.append(f"box {box.tolist()} is not finite")
        box = np.nan_to_num(box, nan=0.0, posinf=0.0, neginf=0.0)
    elif (box < lo).any() or (box > hi).any():
        problems.append(f"box {box.tolist()} lies far outside the {w}x{h} image")
    elif box[2] < box[0] or box[3] < box[1]:
        problems.append(f"box {box.tolist()} has its corners swapped")
    box_ok = not problems
    if not box_ok:
        hand.roi_valid = False
    hand.box = np.clip(box, lo, hi).astype(np.float32)
    roi = np.asarray(hand.roi, np.float32).reshape(4)
    if hand.roi_valid and (not np.isfinite(roi).all() or (roi < lo).any() or (roi > hi).any()):
        problems.append(f"ROI {roi.tolist()} is not finite or lies far outside the {w}x{h} image")
        hand.roi_valid = False
    if not np.isfinite(roi).all():
        hand.roi = np.nan_to_num(roi, nan=0.0, posinf=0.0, neginf=0.0)
    if not np.isfinite(hand.score) or not 0.0 <= hand.score <= 1.0:
        problems.append(f"score {hand.score} is outside [0, 1]")
        hand.score = float(np.clip(np.nan_to_num(hand.score, nan=0.0), 0.0, 1.0))
    g = hand.gesture
    if g is not None and (not np.isfinite(g.confidence) or not 0.0 <= g.confidence <= 1.0):
        problems.append(f"gesture confidence {g.confidence} is outside [0, 1]; shown as unavailable")
        hand.gesture = None
    return problems, box_ok


def check_hands(hands: list[Hand], frame_w: int, frame_h: int) -> list[str]:
    """:func:`check_hand` for each hand: all their problems."""
    return [p for h in hands for p in check_hand(h, frame_w, frame_h)[0]]


def prepare_received_hands(
    hands: list[Hand], frame_w: int, frame_h: int, msg_size: tuple[int, int], roi_cfg: RoiConfig
) -> list[str]:
    """Hands from another node's ``DetectionArray``, checked against the image they are
    classified on (:func:`check_size`, :func:`check_hands`, each ROI with
    :func:`~.roi.check_received_roi`), and given ROIs where they arrived without one
    (:func:`~.pipeline.attach_rois`). Boxes made for another image size are in other
    coordinates, so none of that message's hands is classified."""
    problems = []
    other = check_size(msg_size, frame_w, frame_h)
    if other is not None:
        problems.append(other)
        for h in hands:
            h.roi_valid = False
    usable = []
    for h in hands:
        found, box_ok = check_hand(h, frame_w, frame_h)
        problems += found
        if box_ok:
            usable.append(h)
    for h in usable:
        if h.roi_valid:
            roi, why = check_received_roi(h.roi, frame_w, frame_h, roi_cfg.min_size)
            if why is None:
                h.roi = roi
            else:
                problems.append(why)
                h.roi_valid = False
    if other is None:  # only hands whose box can be trusted get a ROI made here
        attach_rois(usable, frame_w, frame_h, roi_cfg)
    return problems
