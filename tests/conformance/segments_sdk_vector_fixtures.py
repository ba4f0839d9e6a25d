"""Writes the Segments.ai sequence and vector fixtures with the segments-ai SDK's own types, offline.

    python tests/conformance/segments_sdk_vector_fixtures.py fixtures/segments

Every label body is validated by the SDK's pydantic models and dumped as its
`client.add_label` sends it (`model_dump(mode="json", exclude_unset=True)`);
bitmaps are written by `segments.utils.bitmap2file`; shapes are rasterised by
pycocotools (`frPyObjects` + `decode`, later shapes painted over earlier
ones), the rule maskconv follows.

- sdk_vector/: task type "vector"; images/*.png (their headers give the size).
  shapes: a concave polygon, a box, a polygon over both (overlap), a
  polyline and a point (no area); empty: a labeled image without annotations.
- sdk_vector_remote/: a vector label whose image is a remote URL: without
  --image-size its size is unknown (an error).
- sdk_sequence/: task type "image-segmentation-sequence"; one sample "clip"
  of 3 frames: car tracks 1 and 2 and road (stuff) in frame 0, track 2 and
  road in frame 1, no bitmap in frame 2.
- sdk_vector_sequence/: task type "image-vector-sequence"; sample "drive",
  2 frames with local images, a car polygon (track 4) moving right and a box.
- expected_vector.json: per item key, the object id of every pixel (rows).
"""
import json, os, shutil, sys
import numpy as np
from PIL import Image
from pycocotools import mask as cocomask
from segments.typing import (ImageSequenceSegmentationLabelAttributes, ImageSequenceVectorLabelAttributes,
                             ImageVectorLabelAttributes)
from segments.utils import bitmap2file

out = sys.argv[1]
FOLDERS = ["sdk_vector", "sdk_vector_remote", "sdk_sequence", "sdk_vector_sequence"]
for folder in FOLDERS:
    shutil.rmtree(os.path.join(out, folder), ignore_errors=True)
    os.makedirs(os.path.join(out, folder))

categories = [
    {"id": 1, "name": "car", "color": [255, 0, 0], "has_instances": True},
    {"id": 2, "name": "road", "color": [0, 0, 255], "has_instances": False},
]


def dump(model, body):
    return model.model_validate(body).model_dump(mode="json", exclude_unset=True)


def release(task_type, samples):
    return {"name": "v1.0", "description": "", "created_at": "2026-01-01T00:00:00Z",
            "dataset": {"name": "fixture", "owner": "maskconv", "task_type": task_type,
                        "task_attributes": {"format_version": "0.1", "categories": categories},
                        "labelsets": [{"name": "ground-truth", "description": ""}], "samples": samples}}


def write(folder, task_type, samples):
    json.dump(release(task_type, samples), open(os.path.join(out, folder, "release.json"), "w"), indent=1)


def image(folder, name, w, h):
    os.makedirs(os.path.join(out, folder, "images"), exist_ok=True)
    Image.new("RGB", (w, h), (90, 90, 90)).save(os.path.join(out, folder, "images", name))
    return f"images/{name}"


def raster(annotations, h, w):
    """Object ids of the shapes painted in order, as pycocotools rasterises them."""
    ids = np.zeros((h, w), np.uint32)
    for a in annotations:
        pts = a["points"]
        if a["type"] == "polygon" and len(pts) >= 3:
            rle = cocomask.frPyObjects([[c for p in pts for c in p]], h, w)
        elif a["type"] == "bbox":
            (x0, y0), (x1, y1) = pts
            rle = cocomask.frPyObjects(np.array([[x0, y0, x1 - x0, y1 - y0]], np.float64), h, w)
        else:
            continue
        ids[cocomask.decode(cocomask.merge(rle)) > 0] = a["id"]
    return ids


expected = {}

# A single image's vector label.
shapes = [
    {"id": 1, "category_id": 1, "type": "polygon", "points": [[0.5, 0.5], [9.5, 0.7], [5.0, 4.2], [1.2, 8.4]]},
    {"id": 2, "category_id": 2, "type": "bbox", "points": [[6.3, 2.0], [11.9, 8.5]]},
    {"id": 3, "category_id": 1, "type": "polygon", "points": [[3.0, 3.0], [8.0, 3.5], [7.0, 7.0]],
     "attributes": {"occluded": True}},
    {"id": 4, "category_id": 1, "type": "polyline", "points": [[0.0, 0.0], [5.0, 5.0]]},
    {"id": 5, "category_id": 2, "type": "point", "points": [[2.0, 2.0]]},
]
vector_samples = [
    {"uuid": "v-1", "name": "shapes.png", "metadata": {"subset": "train"},
     "attributes": {"image": {"url": image("sdk_vector", "shapes.png", 12, 9)}},
     "labels": {"ground-truth": {"label_status": "LABELED", "attributes": dump(
         ImageVectorLabelAttributes, {"format_version": "0.1", "annotations": shapes})}}},
    {"uuid": "v-2", "name": "empty.png", "metadata": {},
     "attributes": {"image": {"url": image("sdk_vector", "empty.png", 4, 3)}},
     "labels": {"ground-truth": {"label_status": "LABELED", "attributes": dump(
         ImageVectorLabelAttributes, {"format_version": "0.1", "annotations": []})}}},
]
write("sdk_vector", "vector", vector_samples)
expected["shapes"] = raster(shapes, 9, 12).tolist()
expected["empty"] = np.zeros((3, 4), np.uint32).tolist()

write("sdk_vector_remote", "vector", [
    {"uuid": "r-1", "name": "far.jpg", "metadata": {},
     "attributes": {"image": {"url": "https://example.com/far.jpg"}},
     "labels": {"ground-truth": {"label_status": "LABELED", "attributes": dump(
         ImageVectorLabelAttributes, {"annotations": shapes[:2]})}}}])

# A segmentation sequence: bitmaps by bitmap2file, track ids across frames.
os.makedirs(os.path.join(out, "sdk_sequence", "bitmaps"))
frame0 = np.zeros((4, 5), np.uint32); frame0[0, :2] = 1; frame0[1:3, 2:4] = 2; frame0[3, :] = 3
frame1 = np.zeros((4, 5), np.uint32); frame1[1:3, 3:5] = 2; frame1[3, :] = 3
frames = []
for i, ids in enumerate([frame0, frame1]):
    open(os.path.join(out, "sdk_sequence", "bitmaps", f"clip_{i}.png"), "wb").write(bitmap2file(ids).getvalue())
    tracks = sorted(set(np.unique(ids).tolist()) - {0})
    frames.append({"format_version": "0.1", "timestamp": f"0000{i}",
                   "annotations": [{"id": t, "track_id": t, "category_id": 2 if t == 3 else 1,
                                    "is_keyframe": True} for t in tracks],
                   "segmentation_bitmap": {"url": f"bitmaps/clip_{i}.png"}})
    expected[f"clip/{i}"] = ids.tolist()
frames.append({"format_version": "0.1", "timestamp": "00002", "annotations": []})
write("sdk_sequence", "image-segmentation-sequence", [
    {"uuid": "s-1", "name": "clip", "metadata": {"subset": "val"},
     "attributes": {"frames": [{"image": {"url": f"https://example.com/clip/{i}.jpg"}, "name": f"{i}.jpg"}
                               for i in range(3)]},
     "labels": {"ground-truth": {"label_status": "LABELED", "attributes": dump(
         ImageSequenceSegmentationLabelAttributes, {"format_version": "0.1", "frames": frames})}}}])

# A vector sequence: local frame images, a car moving right and a box.
vector_frames = []
for i in range(2):
    dx = 2.5 * i
    annotations = [
        {"id": 4, "track_id": 4, "category_id": 1, "is_keyframe": True, "type": "polygon",
         "points": [[1 + dx, 1], [5.5 + dx, 1.5], [3 + dx, 5]]},
        {"id": 7, "track_id": 7, "category_id": 2, "is_keyframe": i == 0, "type": "bbox",
         "points": [[0, 5.5], [10, 7]]},
    ]
    vector_frames.append({"format_version": "0.1", "annotations": annotations})
    expected[f"drive/{i}"] = raster(annotations, 7, 10).tolist()
write("sdk_vector_sequence", "image-vector-sequence", [
    {"uuid": "d-1", "name": "drive.mp4", "metadata": {},
     "attributes": {"frames": [{"image": {"url": image("sdk_vector_sequence", f"drive_{i}.png", 10, 7)}}
                               for i in range(2)]},
     "labels": {"ground-truth": {"label_status": "LABELED", "attributes": dump(
         ImageSequenceVectorLabelAttributes, {"format_version": "0.1", "frames": vector_frames})}}}])

json.dump(expected, open(os.path.join(out, "expected_vector.json"), "w"), sort_keys=True)
print("wrote", ", ".join(FOLDERS), "and expected_vector.json")
