"""OpenCV's side of `cargo bench --bench harness -- --trace CORPUS`: the
same objects of a CVAT corpus as `benches/pycocotools_rle.py` builds (each
(class colour, object colour) pair), each traced with `cv2.findContours`
(RETR_CCOMP: outer boundaries and holes; CHAIN_APPROX_SIMPLE), as a polygon
writer built on OpenCV does — on the object's whole-image mask, and on its
bounding-box crop (as maskconv traces it); mask building untimed. Prints
objects/s (median of RUNS) for both, the object count, and the IoU of the
outer contours filled back with pycocotools (what such a writer's polygons
give back; contours through pixel centres, as Datumaro's mask_to_polygons).

    python benches/opencv_contours.py target/bench/corpus 5
"""
import importlib.metadata
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from pycocotools import mask as maskapi

sys.path.insert(0, str(Path(__file__).parent))
from pycocotools_rle import corpus_objects  # noqa: E402

corpus, runs = Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 5
masks, crops = corpus_objects(corpus), []
for mask in masks:
    ys, xs = np.nonzero(mask)
    crops.append(np.ascontiguousarray(mask[ys.min():ys.max() + 1, xs.min():xs.max() + 1]))


def rate(images):
    rates = []
    for _ in range(runs):
        start = time.perf_counter()
        for m in images:
            cv2.findContours(m, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
        rates.append(len(images) / (time.perf_counter() - start))
    return sorted(rates)[runs // 2]


whole, cropped = rate(masks), rate(crops)
ious = []
for m in masks[:: max(1, len(masks) // 500)]:
    h, w = m.shape
    contours, hierarchy = cv2.findContours(m, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    rings = [c.reshape(-1).astype(float).tolist() for c, hi in zip(contours, hierarchy[0]) if hi[3] < 0 and len(c) >= 3]
    back = maskapi.decode(maskapi.merge(maskapi.frPyObjects(rings, h, w))) if rings else np.zeros_like(m)
    ious.append((back & m).sum() / (back | m).sum())
print(f"opencv {importlib.metadata.version('opencv-python-headless')} findContours: {whole:.0f} objects/s on whole-image masks, "
      f"{cropped:.0f} objects/s on box crops (median of {runs}; {len(masks)} objects, mask building untimed)")
print(f"its outer contours filled back (pycocotools): mean IoU {np.mean(ious):.6f} on {len(ious)} objects")
