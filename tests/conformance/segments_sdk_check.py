"""Checks a Segments.ai release written by maskconv with the official SDK
(segments-ai 1.33.0), offline (its HTTP session is patched to read local
files, relative to OUT_DIR):

    python tests/conformance/segments_sdk_check.py OUT_DIR [COUNTS.json]

- SegmentsDataset loads OUT_DIR/release.json (load_images=False when the
  samples have no image URL) with every category;
- for every labelled sample, the SDK's bitmap loader decodes the bitmap to
  exactly the annotation ids listed (plus 0 where unlabeled), and the label
  body in labels/<key>.json validates as the SDK's LabelAttributes and equals
  the release's;
- every bitmap is 8-bit RGBA with alpha 255;
- read again through the SDK's cache (16-bit gray files), every label has the
  same ids (maskconv writes ids 1..N, which the cache does not clip).
Prints one line per sample and "N passed, N failed"; exit 1 on any failure.
With COUNTS.json, also writes per sample key its size and per-category pixels
as the SDK decodes them.
"""
import json, os, sys, tempfile
import numpy as np
from PIL import Image
from pydantic import TypeAdapter
import segments.utils as su
from segments.dataset import SegmentsDataset
from segments.typing import LabelAttributes, ImageSegmentationLabelAttributes

root = os.path.abspath(sys.argv[1])
counts_file = os.path.abspath(sys.argv[2]) if len(sys.argv) > 2 else None
os.chdir(root)
counts = {}

class R:
    def __init__(self, c): self.content = c
class S:
    def get(self, url):
        path = url[7:] if url.startswith("file://") else url
        return R(open(path, "rb").read())
su.session = S()

release = json.load(open("release.json"))
samples = release["dataset"]["samples"]
load_images = all(s["attributes"]["image"]["url"] for s in samples)
work = tempfile.mkdtemp()
ds = SegmentsDataset("release.json", labelset="ground-truth", segments_dir=None, load_images=load_images)
assert len(ds) == len(samples), (len(ds), len(samples))
assert [c.name for c in ds.categories] == [c["name"] for c in release["dataset"]["task_attributes"]["categories"]]
passed = failed = 0
for i, sample in enumerate(ds):
    problems = []
    label = samples[i]["labels"]["ground-truth"]
    if label is None:
        status = "no label"
    else:
        ids = sample["segmentation_bitmap"]
        listed = {a["id"] for a in label["attributes"]["annotations"]}
        present = set(np.unique(ids).tolist()) - {0}
        if present - listed:
            problems.append(f"ids without annotation: {sorted(present - listed)}")
        url = label["attributes"]["segmentation_bitmap"]["url"]
        rgba = np.array(Image.open(url))
        if rgba.dtype != np.uint8 or rgba.ndim != 3 or rgba.shape[2] != 4 or (rgba[..., 3] != 255).any():
            problems.append("bitmap is not 8-bit RGBA with alpha 255")
        key = os.path.splitext(samples[i]["name"])[0]
        body = json.load(open(os.path.join("labels", key + ".json")))
        parsed = TypeAdapter(LabelAttributes).validate_python(body)
        if not isinstance(parsed, ImageSegmentationLabelAttributes):
            problems.append(f"label body parses as {type(parsed).__name__}")
        if body != label["attributes"]:
            problems.append("labels/<key>.json differs from the release's label")
        status = f"{len(present)} objects"
        # Per category, the pixels the SDK's decoding gives (for the suite to
        # compare with maskconv's reading of the source).
        category_of = {a["id"]: a["category_id"] for a in label["attributes"]["annotations"]}
        name_of = {c["id"]: c["name"] for c in release["dataset"]["task_attributes"]["categories"]}
        values, n = np.unique(ids, return_counts=True)
        per = {}
        for v, k in zip(values.tolist(), n.tolist()):
            if v:
                name = name_of[category_of[v]]
                per[name] = per.get(name, 0) + k
        counts[key] = {"size": [int(ids.shape[1]), int(ids.shape[0])], "classes": per}
    failed += bool(problems)
    passed += not problems
    print(f"{samples[i]['name']}: {'; '.join(problems) or 'ok'} ({status})")
# The SDK's caching path too: it re-saves each label as a 16-bit gray file
# (ids above 65535 would be clipped there); the cached ids must equal ours.
# The SDK does not create sub folders for sample names like "a/b.png".
image_dir = os.path.join(work, f"{release['dataset']['owner']}_{release['dataset']['name']}", release["name"])
for sample in samples:
    os.makedirs(os.path.join(image_dir, os.path.dirname(sample["name"])), exist_ok=True)
cached = SegmentsDataset("release.json", labelset="ground-truth", segments_dir=work,
                         load_images=load_images, preload=False)
for i, sample in enumerate(cached):
    if samples[i]["labels"]["ground-truth"] is None:
        continue
    again = cached[i]["segmentation_bitmap"]  # the second fetch reads the cache file
    same = np.array_equal(np.array(again).astype(np.uint32), np.array(ds[i]["segmentation_bitmap"]))
    failed += not same
    passed += same
    print(f"{samples[i]['name']} through the SDK's cache: {'ok' if same else 'ids differ'}")
print(f"{passed} passed, {failed} failed")
if counts_file:
    json.dump(counts, open(counts_file, "w"), indent=1, sort_keys=True)
sys.exit(1 if failed else 0)
