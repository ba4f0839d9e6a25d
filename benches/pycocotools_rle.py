"""pycocotools' side of `cargo bench --bench harness -- --rle CORPUS`: the
same objects of a CVAT corpus (each (class colour, object colour) pair of
SegmentationClass/ + SegmentationObject/, background black excluded) as dense
Fortran-order masks, timed through `pycocotools.mask.encode`; prints
objects/s (median of RUNS) and the object count, which must equal maskconv's.

    python benches/pycocotools_rle.py target/bench/corpus 5
"""
import importlib.metadata
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image
from pycocotools import mask as maskapi


def corpus_objects(corpus):
    """Every (class colour, object colour) pair's whole-image uint8 mask."""
    masks = []
    for cls_path in sorted((corpus / "SegmentationClass").glob("*.png")):
        cls = np.asarray(Image.open(cls_path).convert("RGB"), dtype=np.uint32)
        obj = np.asarray(Image.open(corpus / "SegmentationObject" / cls_path.name).convert("RGB"), dtype=np.uint32)
        key = ((cls[..., 0] << 16) | (cls[..., 1] << 8) | cls[..., 2]).astype(np.uint64) << 24
        key |= ((obj[..., 0] << 16) | (obj[..., 1] << 8) | obj[..., 2]).astype(np.uint64)
        labelled = (cls.sum(axis=2) != 0)
        for value in np.unique(key[labelled]):
            masks.append((key == value).astype(np.uint8))
    return masks


if __name__ == "__main__":
    corpus, runs = Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 5
    masks = [np.asfortranarray(m) for m in corpus_objects(corpus)]
    rates = []
    for _ in range(runs):
        start = time.perf_counter()
        for m in masks:
            maskapi.encode(m)
        rates.append(len(masks) / (time.perf_counter() - start))
    rates.sort()
    print(f"pycocotools {importlib.metadata.version('pycocotools')} mask.encode: {rates[runs // 2]:.0f} objects/s "
          f"(median of {runs}; {len(masks)} objects, mask building untimed)")
