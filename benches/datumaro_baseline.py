"""Baseline for BENCHMARKS.md: the same CVAT/VOC conversion with Datumaro,
the library CVAT uses. Not run by CI.

Usage: python benches/datumaro_baseline.py CORPUS_DIR OUT_DIR
(CORPUS_DIR: e.g. a subset of target/bench/corpus made by `cargo bench --bench harness`;
needs `pip install datumaro`.)
"""
import resource
import sys
import time

import datumaro as dm

corpus, out = sys.argv[1], sys.argv[2]
start = time.time()
dataset = dm.Dataset.import_from(corpus, "voc_segmentation")
dataset.export(out, "voc_segmentation", save_media=False)
seconds = time.time() - start
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"datumaro {dm.__version__}: {len(dataset)} items in {seconds:.1f} s = "
      f"{len(dataset) / seconds:.1f} items/s, peak RSS {peak_mb:.0f} MB")
