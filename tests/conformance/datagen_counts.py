"""Independent per-class pixel counts of Datagen datapoints, read the way
Datagen's docs read masks: OpenCV IMREAD_UNCHANGED, BGR -> RGB, exact match
against each metadata leaf. Prints JSON {datapoint: {class: pixels}}; the
numbers for the real datapoints are pinned in
fixtures/datagen/three_real_datapoints_opencv_counts.json.

Usage: python tests/conformance/datagen_counts.py fixtures/datagen/three_real_datapoints
"""
import json
import sys
from pathlib import Path

import cv2
import numpy as np


def leaves(node, path=()):
    for key, value in node.items():
        if key == "version" and not path:
            continue
        if isinstance(value, dict) and {"R", "G", "B"} <= value.keys():
            yield ".".join(path + (key,)), (value["R"], value["G"], value["B"])
        elif isinstance(value, list):
            yield ".".join(path + (key,)), tuple(value)
        else:
            yield from leaves(value, path + (key,))


def main(root):
    result = {}
    for meta in sorted(Path(root).rglob("semantic_segmentation_metadata.json")):
        table = dict(leaves(json.loads(meta.read_text())))
        for mask in sorted(meta.parent.rglob("semantic_segmentation.png")):
            image = cv2.imread(str(mask), cv2.IMREAD_UNCHANGED)
            assert image.dtype == np.uint16, mask
            rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB).reshape(-1, 3)
            counts = {}
            matched = 0
            for name, colour in table.items():
                n = int(np.all(rgb == np.array(colour, dtype=np.uint16), axis=1).sum())
                matched += n
                if n and name != "background":
                    counts[name] = n
            assert matched == rgb.shape[0], f"{mask}: unmatched pixels"
            key = str(mask.parent.relative_to(root))
            result[key] = dict(sorted(counts.items()))
    assert result, f"{root}: no Datagen mask found"
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main(sys.argv[1])
