"""Baseline for BENCHMARKS.md: the same conversion with Datumaro, the library
CVAT uses. Not run by CI.

Usage: python benches/datumaro_baseline.py CORPUS_DIR OUT_DIR [FORMAT]
(CORPUS_DIR: e.g. target/bench/corpus made by `cargo bench --bench harness`;
FORMAT: Datumaro's export format, `voc_segmentation` by default, or
`coco_panoptic` — which writes only items with an image, so give it a corpus
with JPEGImages/, see `--with-images`; needs `pip install datumaro`.)

    python benches/datumaro_baseline.py --with-images CORPUS_DIR COPY_DIR

copies CORPUS_DIR to COPY_DIR with a black JPEG per item in JPEGImages/ (untimed).
"""
import resource
import shutil
import sys
import time
from pathlib import Path

if sys.argv[1] == "--with-images":
    import numpy as np
    from PIL import Image
    corpus, copy = Path(sys.argv[2]), Path(sys.argv[3])
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(corpus, copy)
    (copy / "JPEGImages").mkdir()
    for mask in sorted((copy / "SegmentationClass").glob("*.png")):
        w, h = Image.open(mask).size
        Image.fromarray(np.zeros((h, w, 3), np.uint8)).save(copy / "JPEGImages" / f"{mask.stem}.jpg")
    sys.exit(0)

import datumaro as dm  # noqa: E402

corpus, out = sys.argv[1], sys.argv[2]
fmt = sys.argv[3] if len(sys.argv) > 3 else "voc_segmentation"
start = time.time()
dataset = dm.Dataset.import_from(corpus, "voc_segmentation")
dataset.export(out, fmt, save_media=fmt == "coco_panoptic")
seconds = time.time() - start
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"datumaro {dm.__version__} voc_segmentation -> {fmt}: {len(dataset)} items in {seconds:.1f} s = "
      f"{len(dataset) / seconds:.1f} items/s, peak RSS {peak_mb:.0f} MB")
