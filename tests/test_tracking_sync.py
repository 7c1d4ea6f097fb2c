import pytest

from gesture_ros.core.sync import ExactTimeSync
from gesture_ros.core.tracking import Debouncer, GestureChange, IouTracker


def test_tracker_keeps_ids_for_moving_boxes_and_ends_lost_tracks() -> None:
    t = IouTracker(iou_threshold=0.3, max_missed=1)
    ids, _ = t.update([[0, 0, 10, 10], [100, 100, 110, 110]])
    assert ids.tolist() == [0, 1]
    ids, _ = t.update([[101, 100, 111, 110], [1, 0, 11, 10]])  # order swapped, moved a bit
    assert ids.tolist() == [1, 0]
    _, ended = t.update([[1, 0, 11, 10]])
    assert ended == []
    _, ended = t.update([[1, 0, 11, 10]])
    assert ended == [1]  # missed twice > max_missed
    ids, _ = t.update([[300, 300, 310, 310]])
    assert ids.tolist() == [2]


def test_debouncer_reports_a_change_once_after_n_agreeing_frames() -> None:
    d = Debouncer(frames=3)
    out = [d.update([0], [lbl]) for lbl in ["fist", "fist", "fist", "fist", "stop", "fist", "stop", "stop", "stop"]]
    assert out[2] == [GestureChange(0, "", "fist")]
    assert all(o == [] for i, o in enumerate(out) if i not in (2, 8))
    assert out[8] == [GestureChange(0, "fist", "stop")]


def test_debouncer_forgets_ended_tracks() -> None:
    d = Debouncer(frames=1)
    assert d.update([5], ["ok"]) == [GestureChange(5, "", "ok")]
    d.update([], [], ended=[5])
    assert d.update([5], ["ok"]) == [GestureChange(5, "", "ok")]
    with pytest.raises(ValueError):
        Debouncer(frames=0)


def test_exact_time_sync_pairs_by_stamp_and_counts_drops() -> None:
    s: ExactTimeSync[str, str] = ExactTimeSync(queue_size=2)
    assert s.add_a(1, "img1") is None
    assert s.add_a(2, "img2") is None
    assert s.add_b(2, "det2") == ("img2", "det2")
    assert s.dropped_a == 1  # img1 can never match any more
    assert s.add_b(3, "det3") is None
    assert s.add_a(3, "img3") == ("img3", "det3")
    for k in range(4, 8):
        s.add_a(k, f"img{k}")
    assert s.dropped_a == 3  # queue of 2 kept 6, 7


def test_hand_tracking_configure_keeps_the_tracks_and_applies_the_values() -> None:
    """What both tracking nodes run on a parameter change: thresholds change in place (track ids
    and gesture histories go on), off drops both, on again builds fresh ones."""
    from gesture_ros.core.tracking import HandTracking, TrackingConfig

    tracking = HandTracking(TrackingConfig())
    tracker, debouncer = tracking.tracker, tracking.debouncer
    assert tracker is not None and debouncer is not None
    ids, _ = tracker.update([[0, 0, 10, 10]])
    changed = TrackingConfig(iou_threshold=0.6, max_missed=9, debounce_frames=7)
    tracking.configure(changed)
    assert tracking.tracker is tracker and tracking.debouncer is debouncer
    assert (tracker.iou_threshold, tracker.max_missed, debouncer.frames) == (0.6, 9, 7)
    assert tracker.update([[0, 0, 10, 10]])[0].tolist() == ids.tolist()  # the same track goes on
    tracking.configure(TrackingConfig(enabled=False))
    assert tracking.tracker is None and tracking.debouncer is None
    tracking.configure(changed)
    assert tracking.tracker is not None and tracking.debouncer is not None
    assert tracking.tracker.max_missed == 9 and tracking.debouncer.frames == 7
    no_events = HandTracking(changed, events=False)  # a pipeline without a classifier: ids only
    assert no_events.tracker is not None and no_events.debouncer is None
