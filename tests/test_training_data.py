"""Dataset conversion (EgoHands polygons.mat, Pascal VOC) and the dataset report, on files the
tests write themselves from real shared images."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

pytest.importorskip("scipy")
from scipy.io import savemat

from gesture_ros.core.errors import ConfigError
from gesture_ros.datasets import load_detection_set, split_by_scene
from gesture_ros.training.cli import main as train_cli
from gesture_ros.training.convert import convert_egohands, convert_voc, egohands_boxes

HANDS = ("myleft", "myright", "yourleft", "yourright")


def _real_frames(shared_data: Path, n: int) -> list[np.ndarray]:
    imgs = sorted((shared_data / "hands_detect" / "images").glob("egohands__*.jpg"))[:n]
    return [cv2.resize(cv2.imread(str(p)), (320, 180)) for p in imgs]


def _polygons(frames: list[dict[str, list[list[float]]]]) -> np.ndarray:
    arr = np.zeros((1, len(frames)), dtype=[(h, "O") for h in HANDS])
    for i, f in enumerate(frames):
        for h in HANDS:
            arr[0, i][h] = np.asarray(f[h], np.float64) if h in f else np.zeros((0, 0))
    return arr


@pytest.fixture()
def egohands_root(tmp_path: Path, shared_data: Path) -> Path:
    root = tmp_path / "egohands" / "_LABELLED_SAMPLES"
    frames = _real_frames(shared_data, 4)
    polys = {
        "CARDS_A": [
            {"myleft": [[10, 20], [50, 25], [30, 80]], "yourright": [[200, 40], [260, 60], [230, 100]]},
            {"myright": [[100, 100], [140, 170], [120, 190]]},  # y beyond the 180-px frame: clipped
        ],
        "PUZZLE_B": [{}, {"myleft": [[5, 5], [40, 40]], "myright": [[7, 7]]}],  # a 1-point polygon is no hand
    }
    k = 0
    for video, entries in polys.items():
        d = root / video
        d.mkdir(parents=True)
        for i in range(len(entries)):
            cv2.imwrite(str(d / f"frame_{i + 1:04d}.jpg"), frames[k])
            k += 1
        savemat(str(d / "polygons.mat"), {"polygons": _polygons(entries)})
    return tmp_path / "egohands"


def test_egohands_polygons_become_min_max_boxes(egohands_root: Path, tmp_path: Path) -> None:
    boxes = egohands_boxes(egohands_root / "_LABELLED_SAMPLES" / "CARDS_A" / "polygons.mat")
    np.testing.assert_allclose(boxes[0], [[10, 20, 50, 80], [200, 40, 260, 100]])
    np.testing.assert_allclose(boxes[1], [[100, 100, 140, 190]])
    report = convert_egohands(egohands_root, tmp_path / "kitti")
    samples = load_detection_set(tmp_path / "kitti")
    by_name = {s.image.name: s for s in samples}
    assert sorted(by_name) == [
        "egohands__CARDS_A_frame_0001.jpg", "egohands__CARDS_A_frame_0002.jpg",
        "egohands__PUZZLE_B_frame_0001.jpg", "egohands__PUZZLE_B_frame_0002.jpg",
    ]  # fmt: skip
    np.testing.assert_allclose(by_name["egohands__CARDS_A_frame_0002.jpg"].boxes, [[100, 100, 140, 180]])  # clipped
    assert len(by_name["egohands__PUZZLE_B_frame_0001.jpg"].boxes) == 0
    np.testing.assert_allclose(by_name["egohands__PUZZLE_B_frame_0002.jpg"].boxes, [[5, 5, 40, 40]])
    assert {s.scene for s in samples} == {"CARDS_A", "PUZZLE_B"}
    rows = list(csv.DictReader((tmp_path / "kitti" / "manifest.csv").open()))
    assert {r["scene"] for r in rows} == {"CARDS_A", "PUZZLE_B"} and {r["width"] for r in rows} == {"320"}
    assert (
        report["images"] == 4 and report["boxes"] == 4 and report["per_scene"]["CARDS_A"] == {"images": 2, "boxes": 3}
    )
    assert cv2.imread(str(tmp_path / "kitti" / "box_sizes.png")) is not None
    # the split is by video: no video has frames on both sides
    val = split_by_scene([s.scene for s in samples])
    assert len(val) == 1 and {s.scene for s in samples if s.scene not in val}.isdisjoint(val)
    assert split_by_scene([s.scene for s in samples], {"PUZZLE_B"}) == {"PUZZLE_B"}
    # a misspelt validation scene would leave its frames in training: one clear error instead
    with pytest.raises(
        ValueError, match=r"validation scene\(s\) PUZZLE_C not in the data \(its scenes: CARDS_A, PUZZLE_B\)"
    ):
        split_by_scene([s.scene for s in samples], {"PUZZLE_B", "PUZZLE_C"})


def test_egohands_frame_count_mismatch_is_one_clear_error(egohands_root: Path, tmp_path: Path) -> None:
    (egohands_root / "_LABELLED_SAMPLES" / "CARDS_A" / "frame_0003.jpg").write_bytes(
        (egohands_root / "_LABELLED_SAMPLES" / "CARDS_A" / "frame_0001.jpg").read_bytes()
    )
    with pytest.raises(ValueError, match="3 frames but 2 polygon entries"):
        convert_egohands(egohands_root, tmp_path / "out")


VOC = """<annotation><folder>hands</folder><filename>{name}</filename>
<size><width>320</width><height>180</height><depth>3</depth></size>
{objects}</annotation>"""
OBJ = "<object><name>{cls}</name><difficult>0</difficult><bndbox><xmin>{b[0]}</xmin><ymin>{b[1]}</ymin><xmax>{b[2]}</xmax><ymax>{b[3]}</ymax></bndbox></object>"


def test_voc_to_kitti_with_class_map_and_scene_pattern(tmp_path: Path, shared_data: Path) -> None:
    src = tmp_path / "voc"
    (src / "Annotations").mkdir(parents=True)
    (src / "JPEGImages").mkdir()
    frames = _real_frames(shared_data, 3)
    objs = {
        "kitchen_001.jpg": [("hand", (11, 21, 60, 90)), ("face", (100, 10, 150, 60))],
        "kitchen_002.jpg": [("Hand_left", (1, 1, 400, 170))],  # clipped to the width
        "office_001.jpg": [("hand", (50, 50, 51, 51))],  # 2 px after the 1-based shift: kept at min_size 2
    }
    for img, (name, ob) in zip(frames, objs.items(), strict=True):
        cv2.imwrite(str(src / "JPEGImages" / name), img)
        body = "".join(OBJ.format(cls=c, b=b) for c, b in ob)
        (src / "Annotations" / name.replace(".jpg", ".xml")).write_text(VOC.format(name=name, objects=body))
    report = convert_voc(src, tmp_path / "kitti", {"hand": "hand", "Hand_left": "hand"}, scene_pattern=r"^([a-z]+)_")
    samples = {s.image.name: s for s in load_detection_set(tmp_path / "kitti")}
    np.testing.assert_allclose(
        samples["voc__kitchen_001.jpg"].boxes, [[10, 20, 60, 90]]
    )  # face dropped, 1-based -> 0-based
    assert samples["voc__kitchen_001.jpg"].labels == ("hand",)
    np.testing.assert_allclose(samples["voc__kitchen_002.jpg"].boxes, [[0, 0, 320, 170]])
    assert samples["voc__office_001.jpg"].labels == ("hand",)
    assert {s.scene for s in samples.values()} == {"kitchen", "office"}
    assert report["classes"] == {"hand": 3}


def test_report_and_cli_on_the_shared_kitti_set(
    tmp_path: Path, shared_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    root = tmp_path / "hd"
    shutil.copytree(shared_data / "hands_detect", root)
    assert train_cli(["dataset-report", str(root)]) == 0
    report = json.loads((root / "dataset_report.json").read_text())
    manifest = list(csv.DictReader((shared_data / "hands_detect" / "manifest.csv").open()))
    assert report["images"] == len(manifest) and report["boxes"] == sum(int(r["n_boxes"]) for r in manifest)
    assert report["per_scene"]["PUZZLE_LIVINGROOM_T_B"]["images"] == sum(
        r["scene"] == "PUZZLE_LIVINGROOM_T_B" for r in manifest
    )
    assert sum(report["box_height_histogram"].values()) == report["boxes"]
    assert train_cli(["dataset-report", str(tmp_path / "missing")]) == 2
    assert "no images/ folder" in capsys.readouterr().err


def test_full_frame_gesture_images_as_extra_detection_data(shared_data: Path) -> None:
    from gesture_ros.datasets import load_gesture_frames_for_detection
    from gesture_ros.training.train_detector import DetectorTrainConfig, split_detection_set

    extra = load_gesture_frames_for_detection(shared_data)
    manifest = list(csv.DictReader((shared_data / "gestures_manifest.csv").open()))
    full = [r for r in manifest if r["kind"] == "full_frame"]
    assert len(extra) >= len(full) and all(s.labels and set(s.labels) == {"hand"} for s in extra)
    assert not any(s.image.name.startswith("hagridcrop__") for s in extra)  # tight crops are not frames
    scenes = {s.scene for s in extra}
    assert "anton_single_room" in scenes and "session_25" in scenes  # named like hands_detect's scenes
    cfg = DetectorTrainConfig(data=str(shared_data / "hands_detect"), extra_data=[str(shared_data)],
                              val_scenes=["PUZZLE_LIVINGROOM_T_B", "session_25", "session_55", "session_96"])  # fmt: skip
    train, val, val_scenes = split_detection_set(cfg)
    base, base_val, _ = split_detection_set(
        DetectorTrainConfig(data=str(shared_data / "hands_detect"), val_scenes=cfg.val_scenes)
    )
    assert not {s.scene for s in train} & val_scenes  # validation sessions never leak in through the extra data
    assert len(train) == len(base) + sum(s.scene not in val_scenes for s in extra)
    assert [s.image for s in val] == [s.image for s in base_val]  # validation is the detection set's own scenes only


def test_val_fraction_of_draws_whole_scenes_by_their_name_alone() -> None:
    """The people drawn for validation depend on each name only: a trainer that loaded more
    (or fewer) people draws the same ones among those it shares, and the fraction is about right."""
    people = [f"hagrid_u{k:04d}" for k in range(400)]
    others = ["session_16", "CARDS_OFFICE_S_B"]
    val = split_by_scene(people + others, {"session_16"}, val_fraction_of={"hagrid_": 0.25})
    assert "session_16" in val and "CARDS_OFFICE_S_B" not in val
    drawn = val - {"session_16"}
    # binomial(400, 0.25): mean 100, sd 8.7; +-4 sd
    assert 65 <= len(drawn) <= 135
    half = split_by_scene(people[::2], set(), val_fraction_of={"hagrid_": 0.25})
    assert half == drawn & set(people[::2])
    assert split_by_scene(people, set(), val_fraction_of={"hagrid_": 0.5}) >= drawn  # a larger fraction adds people
    with pytest.raises(ValueError, match="no scene starts with 'hagird_'"):
        split_by_scene(people, set(), val_fraction_of={"hagird_": 0.25})


def test_distant_people_validate_whole_and_the_classifier_never_sees_the_detector_trunks_frames(
    shared_data: Path,
) -> None:
    """The shipped recipe's split: HaGRID people are on one side only, over the detection set
    and the gesture frames; the classifier's HaGRID validation people are among the detector's,
    so the trunk it starts from never trained on them; ``validation_frames`` is that validation."""
    from gesture_ros.datasets import load_gesture_set, split_gestures, validation_frames
    from gesture_ros.training.cli import read_config_yaml
    from gesture_ros.training.train_classifier import ClassifierTrainConfig
    from gesture_ros.training.train_detector import DetectorTrainConfig, split_detection_set

    root = Path(__file__).resolve().parents[1] / "gesture_ros" / "training"
    det_yaml = read_config_yaml(root / "default_detector.yaml")
    cfg = DetectorTrainConfig(
        data=str(shared_data / "hands_detect"),
        extra_data=[str(shared_data)],
        val_scenes=det_yaml["val_scenes"],
        val_fraction_of=det_yaml["val_fraction_of"],
    )
    train, val, val_scenes = split_detection_set(cfg)
    people = lambda part: {s.scene for s in part if s.scene.startswith("hagrid_")}  # noqa: E731
    assert people(val) and people(train) and not people(val) & people(train)
    assert {s.image for s in val} == {
        s.image for s in validation_frames(Path(cfg.data), [shared_data], val_scenes, cfg.val_fraction_of)
    }
    distant_val = [s for s in val if s.scene.startswith("hagrid_")]
    assert len({s.image.parent.parent.name for s in distant_val}) == 2  # hands_detect/images and gestures/<class>
    cls_yaml = read_config_yaml(root / "default_classifier.yaml")
    labels = ("thumbs_up", "fist", "stop", "ok", "two", "random")
    ccfg = ClassifierTrainConfig(val_scenes=cls_yaml["val_scenes"], val_fraction_of=cls_yaml["val_fraction_of"])
    ctrain, cval, _ = split_gestures(
        load_gesture_set(shared_data, labels), set(ccfg.val_scenes), ccfg.val_crop_fraction, ccfg.val_fraction_of
    )
    assert people(cval) and people(cval) <= people(val)
    assert not people(cval) & people(ctrain)
    assert not {s.image for s in cval} & {s.image for s in train}


def test_repeat_weights_a_dataset_by_file_name_prefix(shared_data: Path) -> None:
    from gesture_ros.training.train_detector import repeat_order

    samples = load_detection_set(shared_data / "hands_detect")
    ego = [i for i, s in enumerate(samples) if s.image.name.startswith("egohands__")]
    assert 0 < len(ego) < len(samples)
    assert np.array_equal(repeat_order(samples, {}), np.arange(len(samples)))  # no repeat: the plain epoch
    order = repeat_order(samples, {"egohands__": 3, "subhih__": 0})
    counts = np.bincount(order, minlength=len(samples))
    assert set(counts[ego]) == {3}
    others = np.setdiff1d(np.arange(len(samples)), ego)
    subhih = [i for i in others if samples[i].image.name.startswith("subhih__")]
    assert subhih and not counts[subhih].any()  # 0 leaves a dataset out of the epoch
    assert len(order) == 3 * len(ego) + len(others) - len(subhih)
    assert np.array_equal(
        np.bincount(repeat_order(samples, {"subhih__": 2}), minlength=len(samples))[ego], np.ones(len(ego))
    )
    with pytest.raises(ValueError, match=">= 0"):
        repeat_order(samples, {"egohands__": -1})


# the mapping the default classifier trains with (../shared/data/README.md's, written once there)
SUBHIH_LABELS = yaml.safe_load(
    (Path(__file__).resolve().parents[1] / "gesture_ros" / "training" / "default_classifier.yaml").read_text()
)["source_labels"]


def test_detection_boxes_with_source_gestures_become_classifier_crops(shared_data: Path, tmp_path: Path) -> None:
    import shutil

    from gesture_ros.datasets import load_detection_gestures

    labels = ("thumbs_up", "fist", "stop", "ok", "two", "random")
    root = shared_data / "hands_detect"
    crops = load_detection_gestures(root, SUBHIH_LABELS, labels)
    rows = [r for r in csv.DictReader((root / "manifest.csv").open()) if r["source_labels"]]
    assert len(crops) == sum(len(r["source_labels"].split("|")) for r in rows)  # every SubhiH hand, no EgoHands one
    assert {c.label for c in crops} == {"fist", "stop", "two", "random"} and all(c.box is not None for c in crops)
    # two hands with different gestures: each box gets its own label, in label-file order
    row = next(r for r in rows if r["source_labels"] == "5-hand|0-hand")
    mine = [c for c in crops if c.image.name == Path(row["image"]).name]
    assert [c.label for c in mine] == ["stop", "fist"] and {c.scene for c in mine} == {
        row["scene"].removeprefix("session_")
    }
    # a label count that does not match the boxes leaves the image out; unmapped labels are skipped
    copy = tmp_path / "det"
    shutil.copytree(root / "labels", copy / "labels")
    (copy / "images").mkdir()
    text = (root / "manifest.csv").read_text().replace("5-hand|0-hand", "5-hand", 1)
    (copy / "manifest.csv").write_text(text)
    fewer = load_detection_gestures(copy, SUBHIH_LABELS, labels)
    assert len(fewer) == len(crops) - 2
    assert len(load_detection_gestures(copy, {"0-hand": "fist"}, labels)) == sum(c.label == "fist" for c in fewer)
    with pytest.raises(FileNotFoundError, match="source_labels"):
        load_detection_gestures(tmp_path, SUBHIH_LABELS, labels)


def test_experiment_yaml_base_chain(tmp_path: Path) -> None:
    from gesture_ros.training.cli import read_config_yaml
    from gesture_ros.training.train_detector import DetectorTrainConfig

    (tmp_path / "stage1.yaml").write_text("data: d\nval_scenes: [a, b]\nepochs: 80\nmosaic: 0.5\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "stage2.yaml").write_text("base: ../stage1.yaml\nepochs: 10\nmosaic: 0.0\n")
    assert read_config_yaml(tmp_path / "sub" / "stage2.yaml") == {
        "data": "d",
        "val_scenes": ["a", "b"],
        "epochs": 10,
        "mosaic": 0.0,
    }
    (tmp_path / "loop.yaml").write_text("base: loop.yaml\nepochs: 1\n")
    with pytest.raises(ConfigError, match="loops back"):
        read_config_yaml(tmp_path / "loop.yaml")
    (tmp_path / "orphan.yaml").write_text("base: missing.yaml\n")
    with pytest.raises(ConfigError, match=r"not found: .*missing\.yaml \(base of .*orphan\.yaml\)"):
        read_config_yaml(tmp_path / "orphan.yaml")
    # the shipped recipe: every later detector stage validates on stage 1's frames (the same
    # scenes, people drawn and data)
    recipe = Path(__file__).resolve().parents[1] / "gesture_ros" / "training"
    stage1 = DetectorTrainConfig(**read_config_yaml(recipe / "default_detector.yaml"))
    assert stage1.val_scenes and stage1.extra_data and stage1.val_fraction_of
    same = lambda c: (c.val_scenes, c.val_fraction_of, c.data, c.extra_data)  # noqa: E731
    for name in ("retrain_detector.yaml", "finetune_detector.yaml", "qat_detector.yaml"):
        stage = DetectorTrainConfig(**read_config_yaml(recipe / name))
        assert same(stage) == same(stage1), name
        assert stage.init_from and stage.out != stage1.out
    # the fine-tune ends without mosaics, blur and weight averaging, but keeps the zoom-out
    # (distant hands) and the box loss
    finetune = DetectorTrainConfig(**read_config_yaml(recipe / "finetune_detector.yaml"))
    assert (finetune.mosaic, finetune.blur, finetune.ema) == (0.0, 0.0, 0.0)
    assert (finetune.zoom_out, finetune.zoom_out_p, finetune.giou_weight) == (
        stage1.zoom_out,
        stage1.zoom_out_p,
        stage1.giou_weight,
    )


def test_subsets_are_chosen_by_scene_not_by_listing_position() -> None:
    """select_samples / evenly / across_scenes: what a short run, a test or a calibration set
    takes does not move when images of another dataset sort in front of them."""
    from gesture_ros.datasets import DetSample, across_scenes, evenly, select_samples

    def s(name: str, scene: str) -> DetSample:
        return DetSample(Path(f"images/{name}.jpg"), np.zeros((0, 4), np.float32), (), scene)

    video = [s(f"egohands__V_frame_{i:04d}", "V") for i in range(10)]
    other = [s(f"egohands__W_frame_{i:04d}", "W") for i in range(4)]
    asl = [s(f"asl__letter_{c}", "asl_letters") for c in "ABC"]
    assert evenly(list(range(10)), 4) == [0, 3, 6, 9] and evenly([1, 2], 5) == [1, 2] and evenly([7, 8, 9], 1) == [7]
    picked = select_samples(video + other, ["V"], 4)
    assert [x.image.stem[-4:] for x in picked] == ["0000", "0003", "0006", "0009"]
    assert select_samples(asl + video + other, ["V"], 4) == picked  # new data in front changes nothing
    assert select_samples(asl + video, ["asl__"]) == asl  # a file prefix selects too
    assert len(select_samples(asl + video + other, (), 2)) == 6  # 2 per scene
    with pytest.raises(ValueError, match="match no image"):
        select_samples(video, ["CARDS_OFICE"])
    scenes = [x.scene for x in asl + video + other]
    first = across_scenes(scenes, 3)
    assert sorted(scenes[i] for i in first) == ["V", "W", "asl_letters"]
    assert len(across_scenes(scenes, 100)) == len(scenes) and len(set(across_scenes(scenes, 9))) == 9
