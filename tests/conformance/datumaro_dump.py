#!/usr/bin/env python3
"""Dump what Datumaro imports from a CVAT "Segmentation mask 1.1" (Pascal VOC) folder.

Usage: python datumaro_dump.py DATASET_DIR

Prints ONE JSON object to stdout:
  {"datumaro_version": ..., "format": "voc",
   "labels": [{"index": i, "name": ..., "color": [r, g, b] | null}],
   "items": [{"id": ..., "subset": ..., "masks": [
       {"label": name, "instance_id": group, "pixels": n,
        "bbox_xyxy_inclusive": [x0, y0, x1, y1] | null,
        "rows": ["..11..", ...]        # only if the mask is at most 64x64
        | "sha1": hex of np.bool_ mask .tobytes()  # otherwise
       }]}]}
On an import error: {"datumaro_version": ..., "format": ..., "error": "<ExceptionType>: message"}
(exit 0). "format" says which Datumaro format name produced the result.
Items are sorted by (subset, id); masks keep Datumaro's order.
Logging (e.g. "only class segmentations available") goes to stderr.
Requires: numpy, datumaro (tested with PyPI datumaro 1.13.12).
"""
import contextlib
import hashlib
import json
import sys

import numpy as np

MAX_ASCII_SIDE = 64
# CVAT imports "Segmentation mask 1.1" with 'voc'. PyPI datumaro's 'voc' only detects
# ImageSets/Main, so a segmentation-only folder falls through to 'voc_segmentation'.
FORMATS = ("voc", "voc_segmentation")


def mask_entry(ann, labels):
    img = np.asarray(ann.image).astype(bool)
    label = labels[ann.label].name if ann.label is not None and 0 <= ann.label < len(labels) else ann.label
    group = ann.group if ann.group else (ann.id or 0)
    entry = {"label": label, "instance_id": int(group), "pixels": int(img.sum())}
    ys, xs = np.nonzero(img)
    entry["bbox_xyxy_inclusive"] = (
        [int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())] if len(xs) else None
    )
    h, w = img.shape[:2]
    if h <= MAX_ASCII_SIDE and w <= MAX_ASCII_SIDE:
        entry["rows"] = ["".join("1" if v else "." for v in row) for row in img]
    else:
        entry["sha1"] = hashlib.sha1(img.tobytes()).hexdigest()
    return entry


def dump(path, dm):
    from datumaro.components.annotation import AnnotationType

    errors = []  # (format, exception)
    for fmt in FORMATS:
        try:
            dataset = dm.Dataset.import_from(path, fmt)
            cats = dataset.categories()
            labels = cats[AnnotationType.label].items if AnnotationType.label in cats else []
            colormap = cats[AnnotationType.mask].colormap if AnnotationType.mask in cats else {}
            out_labels = []
            for i, lab in enumerate(labels):
                color = colormap.get(i)
                out_labels.append(
                    {"index": i, "name": lab.name, "color": [int(c) for c in color] if color is not None else None}
                )
            items = []
            for item in sorted(dataset, key=lambda it: (it.subset, it.id)):
                masks = [mask_entry(a, labels) for a in item.annotations if a.type == AnnotationType.mask]
                items.append({"id": item.id, "subset": item.subset, "masks": masks})
            return {"format": fmt, "labels": out_labels, "items": items}
        except Exception as e:  # noqa: BLE001 - report any importer failure
            print(f"datumaro_dump: format {fmt!r} failed: {type(e).__name__}: {e}", file=sys.stderr)
            errors.append((fmt, e))
    # All failed. PyPI 'voc' only looks at ImageSets/Main, so its "not found" says nothing
    # about a segmentation dataset: report the first error that is not DatasetNotFoundError.
    fmt, err = next(((f, e) for f, e in errors if type(e).__name__ != "DatasetNotFoundError"), errors[0])
    msg = f"{type(err).__name__}: {err}"
    cause = err.__cause__  # PyPI wraps e.g. labelmap errors in a bare DatasetImportError
    if cause is not None and str(cause) not in str(err):
        msg += f" <- {type(cause).__name__}: {cause}"
    return {"format": fmt, "error": msg}


def main(argv):
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        import datumaro as dm

        version = getattr(dm, "__version__", None) or getattr(dm, "VERSION", None)
    except Exception as e:  # noqa: BLE001
        print(json.dumps({"datumaro_version": None, "error": f"{type(e).__name__}: {e}"}))
        return 0
    with contextlib.redirect_stdout(sys.stderr):  # keep stdout pure JSON
        result = dump(argv[1], dm)
    print(json.dumps({"datumaro_version": version, **result}, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
