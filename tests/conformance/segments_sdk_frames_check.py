"""Reads a Segments.ai release maskconv wrote, image or sequence samples,
with the official SDK (segments-ai 1.33.0), offline:

    python tests/conformance/segments_sdk_frames_check.py OUT_DIR COUNTS.json

- every label body validates as the SDK's LabelAttributes, as the type its
  dataset's task type calls for (ImageSequenceSegmentationLabelAttributes for
  "image-segmentation-sequence"), and equals labels/<sample>.json;
- every bitmap, decoded by the SDK's loader (load_label_bitmap_from_url),
  holds only listed ids, and is 8-bit RGBA with alpha 255;
- in a sequence, every annotation's track_id equals its id.
Writes per item key (a sequence frame: <sample>/<frame>, zero-padded as
maskconv reads it) its size, pixels per category, the track ids of
categories with instances, and the object id of every pixel. Exit 1 on any
problem.
"""
import json, os, sys
import numpy as np
from PIL import Image
from pydantic import TypeAdapter
import segments.utils as su
from segments.typing import (ImageSegmentationLabelAttributes, ImageSequenceSegmentationLabelAttributes,
                             LabelAttributes)

root, counts_file = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
os.chdir(root)


class R:
    def __init__(self, c): self.content = c


class S:
    def get(self, url): return R(open(url, "rb").read())


su.session = S()
release = json.load(open("release.json"))
dataset = release["dataset"]
sequence_task = dataset["task_type"] == "image-segmentation-sequence"
expected_type = ImageSequenceSegmentationLabelAttributes if sequence_task else ImageSegmentationLabelAttributes
name_of = {c["id"]: c["name"] for c in dataset["task_attributes"]["categories"]}
things = {c["id"] for c in dataset["task_attributes"]["categories"] if c.get("has_instances")}
problems, counts = [], {}


def read_image(key, body):
    url = body.get("segmentation_bitmap", {}).get("url") if body.get("segmentation_bitmap") else None
    if not url:
        return
    ids = su.load_label_bitmap_from_url(url)
    rgba = np.array(Image.open(url))
    if rgba.dtype != np.uint8 or rgba.ndim != 3 or rgba.shape[2] != 4 or (rgba[..., 3] != 255).any():
        problems.append(f"{key}: bitmap is not 8-bit RGBA with alpha 255")
    category_of = {a["id"]: a["category_id"] for a in body["annotations"]}
    present = set(np.unique(ids).tolist()) - {0}
    if present - set(category_of):
        problems.append(f"{key}: ids without annotation {sorted(present - set(category_of))}")
    for a in body["annotations"]:
        if sequence_task and a.get("track_id") != a["id"]:
            problems.append(f"{key}: annotation {a['id']} has track_id {a.get('track_id')}")
    per, tracks = {}, {}
    values, n = np.unique(ids, return_counts=True)
    for v, k in zip(values.tolist(), n.tolist()):
        if v:
            name = name_of[category_of[v]]
            per[name] = per.get(name, 0) + k
            if category_of[v] in things:
                tracks.setdefault(name, []).append(v)
    counts[key] = {"size": [int(ids.shape[1]), int(ids.shape[0])], "classes": per,
                   "tracks": {k: sorted(v) for k, v in tracks.items()}, "ids": ids.tolist()}


for sample in dataset["samples"]:
    key = os.path.splitext(sample["name"])[0]
    label = sample["labels"]["ground-truth"]
    if label is None:
        continue
    body = label["attributes"]
    parsed = TypeAdapter(LabelAttributes).validate_python(body)
    if not isinstance(parsed, expected_type):
        problems.append(f"{key}: the label parses as {type(parsed).__name__}, not {expected_type.__name__}")
    if json.load(open(os.path.join("labels", key + ".json"))) != body:
        problems.append(f"{key}: labels/{key}.json differs from the release's label")
    if sequence_task:
        frames = body["frames"]
        if len(frames) != len(sample["attributes"]["frames"]):
            problems.append(f"{key}: {len(frames)} label frames for {len(sample['attributes']['frames'])} images")
        digits = len(str(len(frames) - 1))
        for i, frame in enumerate(frames):
            read_image(f"{key}/{i:0{digits}d}", frame)
    else:
        read_image(key, body)
json.dump(counts, open(counts_file, "w"), sort_keys=True)
for p in problems:
    print(p)
print(f"{len(counts)} images read, {len(problems)} problems")
sys.exit(1 if problems else 0)
