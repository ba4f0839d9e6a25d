"""Loads a Datagen dataset with Datagen's own SDK (`pip install datagen-tech==1.10.6
packaging`) and prints, per camera folder, each class's pixel count: the mask as the SDK
reads it (OpenCV, uint16 RGB) matched exactly against the metadata leaves the SDK
parsed. Same JSON shape as datagen_counts.py, so the two and `maskconv inspect` can be
compared on maskconv's output.

Usage: python tests/conformance/datagen_sdk_counts.py DATASET_FOLDER
"""
import json
import logging
import sys
import warnings
from pathlib import Path

warnings.filterwarnings("ignore")
logging.disable(logging.WARNING)

import numpy as np  # noqa: E402
from datagen.impl import Datagen  # noqa: E402
from datagen.modalities.textual.base.segmentation import ColoredSegment  # noqa: E402


def leaves(segments, path=()):
    for segment in segments:
        name = path + (segment.name,)
        if isinstance(segment, ColoredSegment):
            yield ".".join(name), segment.color
        else:
            yield from leaves(segment.sub_segments, name)


def main(root):
    result = {}
    for dp in Datagen().load(root):
        key = str(Path(dp.camera_path).relative_to(root))
        mask = dp.semantic_segmentation
        if mask is None:  # a camera without segmentation
            result[key] = None
            continue
        table = dict(leaves(dp.semantic_segmentation_metadata.scene))
        pixels = mask.reshape(-1, 3)
        counts, matched = {}, 0
        for name, colour in table.items():
            n = int(np.all(pixels == colour.astype(np.uint16), axis=1).sum())
            matched += n
            if n and name != "background":
                counts[name] = n
        assert matched == pixels.shape[0], f"{dp.camera_path}: unmatched pixels"
        result[key] = dict(sorted(counts.items()))
    print(json.dumps(result, indent=1, sort_keys=True))


if __name__ == "__main__":
    main(sys.argv[1])
