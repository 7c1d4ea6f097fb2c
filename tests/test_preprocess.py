from dataclasses import replace

import cv2
import numpy as np
import pytest

from gesture_ros.core.model_spec import Normalisation, TensorInput
from gesture_ros.core.preprocess import Preprocessor


def _spec(
    h: int, w: int, color: str = "rgb", pad: str = "right_bottom", mean: float = 0.0, scale: float = 1 / 255
) -> TensorInput:
    return TensorInput("input_1", 3, h, w, color, Normalisation((mean,) * 3, (scale,) * 3), pad)  # type: ignore[arg-type]


def test_same_size_layout_colour_and_normalisation_match_numpy_reference() -> None:
    rng = np.random.default_rng(1)
    bgr = rng.integers(0, 256, size=(32, 48, 3), dtype=np.uint8)
    pre = Preprocessor(_spec(32, 48, "rgb", mean=128.0, scale=1 / 256), max_batch=2)
    pre.fill(1, bgr, "bgr")
    ref = (bgr[..., ::-1].astype(np.float32) - 128.0) / 256.0
    np.testing.assert_allclose(pre.tensor[1], ref.transpose(2, 0, 1), rtol=0, atol=1e-6)
    assert not pre.tensor[0].any()  # other slots untouched


def test_bgr_model_keeps_bgr_and_rgb_input_is_swapped() -> None:
    rgb = np.zeros((16, 16, 3), np.uint8)
    rgb[..., 0] = 200  # red
    pre = Preprocessor(_spec(16, 16, "bgr", scale=1.0))
    pre.fill(0, rgb, "rgb")
    assert pre.tensor[0, 2].min() == 200 and pre.tensor[0, 0].max() == 0


def test_letterbox_right_bottom_pads_with_zero_pixels_and_maps_boxes_back() -> None:
    img = np.full((100, 200, 3), 255, np.uint8)  # 2:1 into 64x64 -> 64x32 on top
    pre = Preprocessor(_spec(64, 64, mean=0.0, scale=1 / 255))
    lb = pre.fill(0, img, "rgb")
    t = pre.tensor[0]
    assert np.allclose(t[:, :32, :], 1.0) and np.allclose(t[:, 32:, :], 0.0)
    assert lb.scale_x == pytest.approx(0.32) and lb.pad_x == 0 and lb.pad_y == 0
    np.testing.assert_allclose(lb.to_source(np.array([[0, 0, 32, 16]])), [[0, 0, 100, 50]], atol=1e-4)
    # clipped to the source frame (the padding area maps outside it)
    np.testing.assert_allclose(lb.to_source(np.array([[0, 0, 64, 64]])), [[0, 0, 200, 100]], atol=1e-4)


def test_symmetric_padding_centres_the_image() -> None:
    img = np.full((100, 50, 3), 255, np.uint8)  # tall crop into 64x64 -> 32 wide, centred
    pre = Preprocessor(_spec(64, 64, pad="symmetric", mean=128.0, scale=1 / 256))
    lb = pre.fill(0, img, "bgr")
    col_means = pre.tensor[0, 0].mean(axis=0)
    pad_value = (0 - 128.0) / 256.0
    assert np.allclose(col_means[:16], pad_value) and np.allclose(col_means[48:], pad_value)
    assert np.allclose(col_means[16:48], (255 - 128) / 256)
    assert lb.pad_x == 16.0


def test_region_crop_matches_cropping_by_hand() -> None:
    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, size=(60, 80, 3), dtype=np.uint8)
    spec = _spec(20, 20, pad="stretch", scale=1.0)
    a, b = Preprocessor(spec), Preprocessor(spec)
    lb = a.fill(0, img, "rgb", region=(10, 5, 30, 25))
    b.fill(0, np.ascontiguousarray(img[5:25, 10:30]), "rgb")
    np.testing.assert_array_equal(a.tensor, b.tensor)
    np.testing.assert_allclose(lb.to_source(np.array([[0, 0, 20, 20]])), [[10, 5, 30, 25]])


def test_mono_and_alpha_inputs() -> None:
    mono = np.arange(16 * 16, dtype=np.uint8).reshape(16, 16, 1)
    pre = Preprocessor(_spec(16, 16, scale=1.0))
    pre.fill(0, mono, "mono")
    for c in range(3):
        np.testing.assert_array_equal(pre.tensor[0, c], mono[..., 0])
    rgba = np.zeros((16, 16, 4), np.uint8)
    rgba[..., 3] = 255
    rgba[..., 1] = 9
    pre.fill(0, rgba, "rgb")
    assert pre.tensor[0, 1].max() == 9 and pre.tensor[0, 0].max() == 0


def test_resize_uses_area_interpolation_like_cv2_when_shrinking() -> None:
    rng = np.random.default_rng(4)
    img = rng.integers(0, 256, size=(64, 64, 3), dtype=np.uint8)
    pre = Preprocessor(_spec(32, 32, scale=1.0))
    pre.fill(0, img, "rgb")
    ref = cv2.resize(img, (32, 32), interpolation=cv2.INTER_AREA).astype(np.float32).transpose(2, 0, 1)
    np.testing.assert_array_equal(pre.tensor[0], ref)


def test_linear_resize_from_the_model_description() -> None:
    rng = np.random.default_rng(5)
    img = rng.integers(0, 256, size=(60, 100, 3), dtype=np.uint8)
    pre = Preprocessor(replace(_spec(32, 64, scale=1.0), resize="linear"))
    pre.fill(0, img, "rgb")
    ref = cv2.resize(img, (53, 32), interpolation=cv2.INTER_LINEAR).astype(np.float32).transpose(2, 0, 1)
    np.testing.assert_array_equal(pre.tensor[0, :, :, :53], ref)
    assert not pre.tensor[0, :, :, 53:].any()  # right padding stays zero


def test_mono_region_resized_like_the_three_channel_expansion() -> None:
    rng = np.random.default_rng(6)
    mono = rng.integers(0, 256, size=(90, 120, 1), dtype=np.uint8)
    a, b = (
        Preprocessor(_spec(40, 40, mean=128.0, scale=1 / 256)),
        Preprocessor(_spec(40, 40, mean=128.0, scale=1 / 256)),
    )
    a.fill(0, mono, "mono", region=(10, 20, 90, 80))
    b.fill(0, np.ascontiguousarray(np.repeat(mono, 3, axis=2)), "rgb", region=(10, 20, 90, 80))
    np.testing.assert_array_equal(a.tensor, b.tensor)


@pytest.mark.parametrize(("w", "h"), [(640, 480), (1280, 720)])
def test_pipeline_allocates_no_image_sized_buffer_per_frame(w: int, h: int) -> None:
    """After the first frame, processing a real frame with the shipped models allocates nothing
    as large as the frame (numpy and OpenCV outputs are traced; the large buffers are the
    preallocated tensors and canvases)."""
    import tracemalloc

    from gesture_ros import paths
    from gesture_ros.bench import frames as bench_frames
    from gesture_ros.core.model_spec import load_models
    from gesture_ros.factory import parameter_values, pipeline

    pipe = pipeline(parameter_values(), load_models(paths.resolve("config/models.yaml")))
    frames = bench_frames.load([(str(paths.share_dir() / "samples" / "hands_demo.mp4"), None)], (w, h))[20:26]
    pipe.process(frames[0], "bgr")
    tracemalloc.start()
    try:
        hands = 0
        for f in frames[1:]:
            tracemalloc.reset_peak()
            base = tracemalloc.get_traced_memory()[0]
            hands += len(pipe.process(f, "bgr").hands)
            peak = tracemalloc.get_traced_memory()[1] - base
            assert peak < f.nbytes / 4, f"{peak} bytes allocated while processing a {f.nbytes}-byte frame"
    finally:
        tracemalloc.stop()
    assert hands > 0  # the frames exercised detection and classification


def test_padding_is_rewritten_when_the_image_moves_in_the_slot() -> None:
    """Only the image's pixels are rewritten for a frame placed like the last one; a crop of
    another shape must not leave the previous image's pixels in its padding."""
    pre = Preprocessor(_spec(32, 32, pad="symmetric", mean=128.0, scale=1 / 256))
    pad_value = (0 - 128.0) / 256
    pre.fill(0, np.full((32, 32, 3), 255, np.uint8), "rgb")  # fills the whole slot
    assert (pre.tensor[0] == (255 - 128.0) / 256).all()
    pre.fill(0, np.full((16, 32, 3), 200, np.uint8), "rgb")  # letterboxed: rows 8..24
    np.testing.assert_array_equal(pre.tensor[0, :, :8], pad_value)
    np.testing.assert_array_equal(pre.tensor[0, :, 24:], pad_value)
    np.testing.assert_array_equal(pre.tensor[0, :, 8:24], (200 - 128.0) / 256)
    pre.fill(0, np.full((16, 32, 3), 10, np.uint8), "rgb")  # same place: padding kept
    np.testing.assert_array_equal(pre.tensor[0, :, :8], pad_value)
    np.testing.assert_array_equal(pre.tensor[0, :, 8:24], (10 - 128.0) / 256)


def test_batch_grows_when_more_crops_arrive() -> None:
    pre = Preprocessor(replace(_spec(8, 8)), max_batch=1)
    pre.ensure_batch(5)
    assert pre.tensor.shape[0] >= 5


def test_frame_size_changing_mid_stream_gives_what_a_fresh_pipeline_gives() -> None:
    """The letterbox is planned per frame and the padding rewritten when it moves: a stream that
    changes resolution (a camera reconfigured) is processed exactly as each size alone."""
    from gesture_ros import paths
    from gesture_ros.bench import frames as bench_frames
    from gesture_ros.core.model_spec import load_models
    from gesture_ros.factory import parameter_values, pipeline

    values = {**parameter_values(), "tracking.enabled": False}
    models = load_models(paths.resolve("config/models.yaml"))
    video = [(str(paths.share_dir() / "samples" / "hands_demo.mp4"), None)]
    sizes = [(640, 480), (1280, 720), (320, 240), (7680, 4320), (640, 480)]
    frame = bench_frames.load(video, (640, 480))[25]
    frames = [cv2.resize(frame, s, interpolation=cv2.INTER_LINEAR) for s in sizes]
    stream = pipeline(values, models)
    found = 0
    for f in frames:
        got = stream.process(f, "bgr")
        ref = pipeline(values, models).process(f, "bgr")
        assert len(got.hands) == len(ref.hands)
        for a, b in zip(got.hands, ref.hands, strict=True):
            np.testing.assert_allclose(a.box, b.box, atol=1e-3)
            assert (a.gesture is None) == (b.gesture is None)
            if a.gesture is not None and b.gesture is not None:
                np.testing.assert_allclose(a.gesture.scores, b.gesture.scores, atol=1e-5)
        found += len(got.hands)
    assert found > 0
