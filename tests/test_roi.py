import numpy as np
import pytest

from gesture_ros.core.roi import RoiConfig, expand_rois, pixel_region


def test_square_symmetric_expansion_in_the_middle_of_the_frame() -> None:
    rois, valid = expand_rois([[100, 100, 140, 180]], 640, 480, RoiConfig(ratio=1.5, margin_px=10, min_size=0))
    # longer side 80 -> 80 * 1.5 + 20 = 140, centred on (120, 140)
    np.testing.assert_allclose(rois, [[50, 70, 190, 210]])
    assert valid.tolist() == [True]


def test_result_does_not_depend_on_position_unlike_modify_meta() -> None:
    cfg = RoiConfig(ratio=2.0, margin_px=5, min_size=0)
    a, _ = expand_rois([[100, 100, 150, 130]], 1000, 1000, cfg)
    b, _ = expand_rois([[400, 300, 450, 330]], 1000, 1000, cfg)
    np.testing.assert_allclose(a[0] - [100, 100, 100, 100], b[0] - [400, 300, 400, 300])
    assert a[0, 2] - a[0, 0] == pytest.approx(a[0, 3] - a[0, 1])  # square


def test_clipped_at_frame_edges() -> None:
    rois, valid = expand_rois([[0, 0, 20, 20], [620, 460, 640, 480]], 640, 480, RoiConfig(ratio=3.0, min_size=0))
    np.testing.assert_allclose(rois, [[0, 0, 40, 40], [600, 440, 640, 480]])
    assert valid.all()


def test_min_size_filter_uses_the_clipped_size() -> None:
    cfg = RoiConfig(ratio=1.0, min_size=30)
    _rois, valid = expand_rois([[0, 0, 20, 20], [100, 100, 140, 140], [-50, 0, 10, 60]], 640, 480, cfg)
    # third box: 60x60 square centred at (-20, 30) -> clipped to x 0..10: too narrow
    assert valid.tolist() == [False, True, False]


def test_non_square_mode_keeps_aspect() -> None:
    rois, _ = expand_rois([[100, 100, 120, 160]], 640, 480, RoiConfig(ratio=2.0, square=False, min_size=0))
    np.testing.assert_allclose(rois, [[90, 70, 130, 190]])


def test_pixel_region_covers_the_float_roi() -> None:
    assert pixel_region([10.2, 5.7, 20.1, 30.0]) == (10, 5, 21, 30)
    assert pixel_region([3.0, 3.0, 3.0, 3.0]) == (3, 3, 4, 4)
