"""Makes tests/data/sample_gestures_bag from ../shared/data (run from the repository root).

20 full-frame photographs with gesture boxes (SubhiH: Apache-2.0, Anton-Augustsson: MIT), four
per class thumbs_up/fist/stop/two/random, JPEG-compressed, 5 frames/s, labels in the bag.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from gesture_ros.bags import make_bag

PICKS = {
    "thumbs_up": ["anton__thumbsup.cd1a276c-8c80-11ee-8fc2-a029425aef06", "anton__thumbsup.e8aa0e66-8c80-11ee-8fc2-a029425aef06",
                  "anton__thumbsup.e8dd90d8-8c80-11ee-8fc2-a029425aef06", "anton__thumbsup.e90fd5f2-8c80-11ee-8fc2-a029425aef06"],
    "fist": ["subhih__16_pic00009", "subhih__26_pic00010", "subhih__55_pic00048", "subhih__96_pic00008"],
    "stop": ["subhih__16_pic00001", "subhih__2_pic00030", "subhih__96_pic00002", "subhih__pic00047"],
    "two": ["subhih__15_pic00016", "subhih__26_pic00033", "subhih__2_pic00296", "subhih__55_pic00039"],
    "random": ["anton__livelong.f86a51da-8c80-11ee-8fc2-a029425aef06", "anton__thumbsdown.d1368048-8c80-11ee-8fc2-a029425aef06",
               "subhih__16_pic00027", "subhih__55_pic00025"],
}  # fmt: skip


def main(shared: Path = Path("../shared/data"), out: Path = Path("tests/data/sample_gestures_bag")) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        images, labels = Path(tmp) / "images", Path(tmp) / "labels"
        images.mkdir()
        labels.mkdir()
        k = 0
        for cls, stems in PICKS.items():
            for stem in stems:
                # a running index keeps the frames in this order (the folder source sorts names)
                shutil.copy(shared / "gestures" / cls / f"{stem}.jpg", images / f"{k:03d}_{stem}.jpg")
                shutil.copy(shared / "gestures_labels" / cls / f"{stem}.txt", labels / f"{k:03d}_{stem}.txt")
                k += 1
        if out.exists():
            shutil.rmtree(out)
        n = make_bag(str(images), out, rate=5.0, compressed=True, labels=labels)
        print(f"wrote {n} frames to {out}")


if __name__ == "__main__":
    main(*(Path(a) for a in sys.argv[1:]))
