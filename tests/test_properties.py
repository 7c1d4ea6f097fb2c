"""Property-based tests (hypothesis) of the maths every frame goes through: whatever the input,
only the documented error types, boxes inside the frame, scores in [0, 1]."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from gesture_ros.core.detectnet import CLUSTER_METHODS, ClusterConfig, cluster, decode
from gesture_ros.core.errors import ImageFormatError
from gesture_ros.core.image import ENCODINGS, image_view
from gesture_ros.core.model_spec import Normalisation, TensorInput
from gesture_ros.core.preprocess import Preprocessor
from gesture_ros.core.roi import RoiConfig, expand_rois, pixel_region

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ENCODING = st.sampled_from([*ENCODINGS, "16UC1", "32FC1", "mono16", "bgr16", "rgba16", "yuv422", "", "BGR8", "8UC3"])


@FAST
@given(
    encoding=ENCODING, h=st.integers(-2, 40), w=st.integers(-2, 40), pad=st.integers(-8, 8), extra=st.integers(-5, 5)
)
def test_image_view_is_a_correct_view_or_one_image_format_error(
    encoding: str, h: int, w: int, pad: int, extra: int
) -> None:
    channels = ENCODINGS.get(encoding, (3, "bgr"))[0]
    step = max(0, w * channels + pad)
    data = bytes(range(256)) * ((max(0, step * h + extra) // 256) + 1)
    data = data[: max(0, step * h + extra)]
    try:
        view, order = image_view(encoding, h, w, step, data)
    except ImageFormatError:
        ok = encoding in ENCODINGS and h > 0 and w > 0 and pad >= 0 and extra == 0
        assert not ok, "a consistent image was rejected"
        return
    assert encoding in ENCODINGS and view.shape == (h, w, channels) and order == ENCODINGS[encoding][1]
    assert view.base is not None  # a view on the message buffer, not a copy
    rows = np.frombuffer(data, np.uint8).reshape(h, step)
    np.testing.assert_array_equal(view.reshape(h, w * channels), rows[:, : w * channels])


finite_or_not = st.floats(allow_nan=True, allow_infinity=True, width=32)


@FAST
@given(
    grid=st.tuples(st.integers(1, 2), st.integers(1, 6), st.integers(1, 8)),
    data=st.data(),
    method=st.sampled_from(CLUSTER_METHODS),
    threshold=st.floats(0.0, 1.0),
)
def test_decode_and_cluster_keep_boxes_inside_the_input_and_scores_in_0_1(
    grid, data, method: str, threshold: float
) -> None:
    n, gh, gw = grid
    cov = data.draw(hnp.arrays(np.float32, (n, gh, gw), elements=st.one_of(st.floats(0, 1, width=32), finite_or_not)))
    bbox = data.draw(hnp.arrays(np.float32, (4 * n, gh, gw), elements=finite_or_not))
    w_in, h_in = gw * 16, gh * 16
    cands = decode(cov, bbox, threshold=threshold, stride=16, input_size=(w_in, h_in))
    assert np.isfinite(cands.boxes).all() and np.isfinite(cands.scores).all()
    dets = cluster(
        cands, ClusterConfig(method=method, coverage_threshold=threshold, min_samples=0.0, confidence_threshold=0.0)
    )
    assert dets.boxes.shape == (len(dets), 4) and dets.scores.shape == (len(dets),)
    assert np.isfinite(dets.boxes).all()
    assert (dets.boxes[:, 0::2] >= 0).all() and (dets.boxes[:, 0::2] <= w_in + 1e-3).all()
    assert (dets.boxes[:, 1::2] >= 0).all() and (dets.boxes[:, 1::2] <= h_in + 1e-3).all()
    assert ((dets.scores >= 0) & (dets.scores <= 1)).all()
    assert set(dets.class_ids.tolist()) <= set(range(n))


@FAST
@given(
    boxes=hnp.arrays(
        np.float64, st.tuples(st.integers(0, 6), st.just(4)), elements=st.floats(-1e6, 1e6) | finite_or_not
    ),
    frame=st.tuples(st.integers(1, 4000), st.integers(1, 4000)),
    ratio=st.floats(0.1, 4.0),
    margin=st.floats(0.0, 200.0),
    min_size=st.floats(0.0, 100.0),
    square=st.booleans(),
)
def test_rois_valid_ones_are_inside_the_frame_and_big_enough(
    boxes, frame, ratio, margin, min_size, square: bool
) -> None:
    w, h = frame
    rois, valid = expand_rois(boxes, w, h, RoiConfig(ratio, margin, min_size, square))
    assert rois.shape == (boxes.shape[0], 4) and valid.shape == (boxes.shape[0],)
    v = rois[valid]
    assert np.isfinite(v).all()
    assert (v[:, 0] >= 0).all() and (v[:, 2] <= w).all() and (v[:, 1] >= 0).all() and (v[:, 3] <= h).all()
    assert ((v[:, 2] - v[:, 0]) >= min_size - 1e-3).all() and ((v[:, 3] - v[:, 1]) >= min_size - 1e-3).all()
    for r in v:  # the crop of a valid ROI is a non-empty slice of the frame
        x1, y1, x2, y2 = pixel_region(r)
        assert 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h


@FAST
@given(
    src=st.tuples(st.integers(1, 300), st.integers(1, 300)),
    net=st.tuples(st.integers(8, 64), st.integers(8, 64)),
    pad=st.sampled_from(["right_bottom", "symmetric", "stretch"]),
    resize=st.sampled_from(["area", "linear"]),
    order=st.sampled_from(["bgr", "rgb", "mono"]),
    net_boxes=hnp.arrays(np.float32, (3, 4), elements=st.floats(-1e4, 1e4, width=32)),
)
def test_preprocess_fills_the_slot_and_maps_any_box_back_inside_the_source(
    src, net, pad, resize, order, net_boxes
) -> None:
    sw, sh = src
    nh, nw = net
    spec = TensorInput("input_1", 3, nh, nw, "rgb", Normalisation((0.0,) * 3, (1 / 255,) * 3), pad, resize)  # type: ignore[arg-type]
    pre = Preprocessor(spec)
    img = np.full((sh, sw, 1 if order == "mono" else 3), 255, np.uint8)
    lb = pre.fill(0, img, order)  # type: ignore[arg-type]
    t = pre.tensor[0]
    assert np.isfinite(t).all() and t.min() >= 0 and t.max() <= 1.0 + 1e-6
    back = lb.to_source(net_boxes)
    assert (
        (back[:, 0::2] >= 0).all()
        and (back[:, 0::2] <= sw).all()
        and (back[:, 1::2] >= 0).all()
        and (back[:, 1::2] <= sh).all()
    )


@pytest.mark.parametrize("shape", [(4320, 7680, 3), (1, 1, 3), (1, 7680, 3)])
def test_extreme_frame_sizes_preprocess_without_error(shape: tuple[int, int, int]) -> None:
    """An 8K frame and one-pixel frames go through the same path (no special cases, no copy)."""
    spec = TensorInput(
        "input_1", 3, 288, 512, "rgb", Normalisation((0.0,) * 3, (1 / 255,) * 3), "right_bottom", "linear"
    )
    pre = Preprocessor(spec)
    lb = pre.fill(0, np.full(shape, 128, np.uint8), "bgr")
    assert lb.src_w == shape[1] and lb.src_h == shape[0]
    assert np.isfinite(pre.tensor).all()


FLOATS = st.floats(allow_nan=True, allow_infinity=True, width=32)


@given(
    rois=hnp.arrays(np.float32, st.tuples(st.integers(0, 6), st.just(4)), elements=FLOATS),
    boxes=hnp.arrays(np.float32, st.tuples(st.just(6), st.just(4)), elements=FLOATS),
    scores=st.lists(FLOATS, min_size=6, max_size=6),
    frame=st.tuples(st.integers(1, 800), st.integers(1, 800)),
    msg_size=st.tuples(st.integers(0, 800), st.integers(0, 800)),
    min_size=st.floats(0, 64),
)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_received_hands_are_safe_to_crop_or_unclassified(rois, boxes, scores, frame, msg_size, min_size) -> None:
    """Any DetectionArray content: every hand stays, each one either has a finite ROI inside the
    frame with at least one pixel (a non-empty crop, no wrapped-around indices) or is left
    unclassified with a reason; scores end in [0, 1], boxes finite."""
    from gesture_ros.core.pipeline import Hand
    from gesture_ros.core.received import prepare_received_hands
    from gesture_ros.core.roi import pixel_region

    w, h = frame
    hands = [Hand(boxes[i].copy(), float(scores[i]), 0, "hand", rois[i].copy() if i < len(rois) else np.zeros(4, np.float32), i < len(rois))
             for i in range(6)]  # fmt: skip
    problems = prepare_received_hands(hands, w, h, msg_size, RoiConfig(min_size=min_size))
    assert len(hands) == 6
    for x in hands:
        assert np.isfinite(x.box).all() and 0.0 <= x.score <= 1.0
        if x.roi_valid:
            x1, y1, x2, y2 = pixel_region(x.roi)
            assert 0 <= x1 < x2 <= w + 1 and 0 <= y1 < y2 <= h + 1
            region = np.zeros((h, w))[y1:y2, x1:x2]
            assert region.size > 0
    if all(msg_size) and msg_size != (w, h):
        assert "image arrived with" in problems[0] and not any(x.roi_valid for x in hands)
