"""Checks a Nucleus dataset written by maskconv with the official SDK
(scale-nucleus 0.22.3), offline:

    python tests/conformance/nucleus_sdk_check.py OUT_DIR [COUNTS.json]

- every line of OUT_DIR/annotations.ndjson parses with
  SegmentationAnnotation.from_json, and to_json() of the parsed object is
  the line itself, byte for byte;
- every mask_url (relative to OUT_DIR) is an 8-bit grayscale PNG (colour
  type 0), and every pixel value has a Segment.
Exit code 0 when everything holds; prints one line per annotation. With
COUNTS.json, also writes per reference_id the mask size and per-label pixels.
"""
import json, os, struct, sys
import numpy as np
from PIL import Image
from nucleus.annotation import Annotation, SegmentationAnnotation

root = sys.argv[1]
counts_file = sys.argv[2] if len(sys.argv) > 2 else None
counts = {}
failures = 0
with open(os.path.join(root, "annotations.ndjson"), encoding="ascii") as f:
    for number, line in enumerate(f, 1):
        line = line.rstrip("\n")
        ann = Annotation.from_json(json.loads(line))
        problems = []
        if not isinstance(ann, SegmentationAnnotation):
            problems.append(f"not a segmentation: {type(ann).__name__}")
        if ann.to_json() != line:
            problems.append("to_json() differs from the line")
        path = os.path.join(root, ann.mask_url)
        with open(path, "rb") as png:
            header = png.read(29)
        depth, colour = header[24], header[25]
        if (depth, colour) != (8, 0):
            problems.append(f"mask is bit depth {depth}, colour type {colour}")
        pixels = np.array(Image.open(path))
        values = set(np.unique(pixels).tolist())
        # Per label, the pixels the SDK's Segments give (for the suite).
        label_of = {s.index: s.label for s in ann.annotations}
        per = {}
        for v, k in zip(*np.unique(pixels, return_counts=True)):
            label = label_of.get(int(v))
            if label and label != "background":
                per[label] = per.get(label, 0) + int(k)
        counts[ann.reference_id] = {"size": [int(pixels.shape[1]), int(pixels.shape[0])], "classes": per}
        listed = {s.index for s in ann.annotations}
        if values - listed:
            problems.append(f"values without Segment: {sorted(values - listed)}")
        failures += bool(problems)
        print(f"line {number} {ann.reference_id}: {'; '.join(problems) or 'ok'}")
print(f"{failures} failed")
if counts_file:
    json.dump(counts, open(counts_file, "w"), indent=1, sort_keys=True)
sys.exit(1 if failures else 0)
