"""Writes fixtures/nucleus/ with the official scale-nucleus SDK (0.22.3), offline.

    python tests/conformance/nucleus_sdk_fixtures.py fixtures/nucleus

- sdk_annotations/: annotations.ndjson written by the SDK's own NDJSON writer
  (nucleus.utils.serialize_and_write, one SegmentationAnnotation.to_json() per
  line, as Dataset.annotate(asynchronous=True) uploads it) + 8-bit 'L' masks
  saved by Pillow. One mask has a value (9) that no Segment lists; one line is
  a SegmentationPrediction; one annotation carries an annotation_id.
- sdk_canonical/: annotations in maskconv's own convention (background at 0,
  things with metadata "instance"), so maskconv must write them back byte for byte.
- foreign_reference_ids/: the three masks under reference ids that are no
  file names (`s3://bucket/run1/x.png`, `a\\b`, `x/../y`, a newline, ...).
- export_rows.json: rows as exportForTraining returns them (checked with
  nucleus.utils.convert_export_payload), one with segmentation null.
- expected_pixels.json: per reference_id, pixels per label and unlabeled
  pixels, counted here with numpy from the masks and the Segments.
"""
import io, json, os, sys
import numpy as np
from PIL import Image
from nucleus.annotation import Segment, SegmentationAnnotation
from nucleus.prediction import SegmentationPrediction
from nucleus.utils import serialize_and_write, convert_export_payload

out = sys.argv[1]

def save(folder, name, array):
    os.makedirs(os.path.dirname(os.path.join(folder, "masks", name)), exist_ok=True)
    Image.fromarray(np.asarray(array, np.uint8), "L").save(os.path.join(folder, "masks", name))

a = np.zeros((6, 8), np.uint8); a[1:3, 1:4] = 1; a[3:5, 4:7] = 2; a[:, 7] = 3
b = np.full((5, 5), 4, np.uint8); b[0, :] = 0; b[2, 2] = 9; b[3:, :2] = 7
c = np.ones((4, 3), np.uint8); c[0, 0] = 2
expected = {}

def count(ref, mask, segments):
    labels = {s.index: s.label for s in segments}
    per, unlabeled = {}, 0
    for value, n in zip(*np.unique(mask, return_counts=True)):
        label = labels.get(int(value))
        if label is None or label == "background":
            unlabeled += int(n)
        else:
            per[label] = per.get(label, 0) + int(n)
    expected[ref] = {"labels": per, "unlabeled": unlabeled}

sdk = os.path.join(out, "sdk_annotations")
anns = [
    SegmentationAnnotation("masks/street_a.png", [
        Segment("background", 0), Segment("car", 1, metadata={"color": "red"}),
        Segment("car", 2), Segment("road", 3)], reference_id="street_a",
        annotation_id="street_a_mask"),
    SegmentationAnnotation("masks/street_b.png", [
        Segment("road", 4), Segment("person", 7, metadata={"occluded": True, "score": 0.5})],
        reference_id="street_b"),
    SegmentationPrediction("masks/field_c.png", [Segment("grass", 1), Segment("cow", 2)],
        reference_id="field_c"),
]
save(sdk, "street_a.png", a); save(sdk, "street_b.png", b); save(sdk, "field_c.png", c)
for ann, mask in zip(anns, [a, b, c]):
    count(ann.reference_id, mask, ann.annotations)
s = io.StringIO(); serialize_and_write(anns, s)
open(os.path.join(sdk, "annotations.ndjson"), "w").write(s.getvalue())

canon = os.path.join(out, "sdk_canonical")
canon_anns = [
    SegmentationAnnotation("masks/street_a.png", [
        Segment("background", 0), Segment("car", 1, metadata={"color": "red", "instance": 1}),
        Segment("car", 2, metadata={"instance": 2}), Segment("road", 3)], reference_id="street_a"),
    SegmentationAnnotation("masks/sub/field_c.png", [Segment("grass", 1), Segment("cow", 2, metadata={"instance": 1})],
        reference_id="sub/field_c"),
]
save(canon, "street_a.png", a); save(canon, "sub/field_c.png", c)
s = io.StringIO(); serialize_and_write(canon_anns, s)
open(os.path.join(canon, "annotations.ndjson"), "w").write(s.getvalue())

# Reference ids that are no file names (maskconv escapes them in paths and keeps them exact).
foreign = os.path.join(out, "foreign_reference_ids")
foreign_ids = ["/data/a.jpg", "s3://bucket/run1/x.png", "a\\b", "c:d", "x/../y", "50%off", "img%20001", "100%3A",
               "line\nbreak\tand tab"]
masks = [("street_a.png", a, anns[0].annotations), ("street_b.png", b, anns[1].annotations),
         ("field_c.png", c, anns[2].annotations)]
for name, mask, _ in masks:
    save(foreign, name, mask)
foreign_anns = [SegmentationAnnotation(f"masks/{masks[i % 3][0]}", masks[i % 3][2], reference_id=ref)
                for i, ref in enumerate(foreign_ids)]
s = io.StringIO(); serialize_and_write(foreign_anns, s)
open(os.path.join(foreign, "annotations.ndjson"), "w").write(s.getvalue())

rows = [
    {"item": {"reference_id": "street_a", "dataset_item_id": "di_1", "image_url": "s3://b/street_a.jpg", "metadata": {}},
     "segmentation": {"mask_url": "sdk_annotations/masks/street_a.png", "annotation_id": None,
                      "annotations": [s.to_payload() for s in anns[0].annotations]},
     "polygon": [], "line": [], "keypoints": [], "box": [], "cuboid": [], "category": [], "multicategory": []},
    {"item": {"reference_id": "unlabeled_d", "dataset_item_id": "di_2", "image_url": "s3://b/d.jpg", "metadata": {}},
     "segmentation": None,
     "polygon": [], "line": [], "keypoints": [], "box": [], "cuboid": [], "category": [], "multicategory": []},
]
converted = convert_export_payload(rows)
assert converted[0]["annotations"]["segmentation"].reference_id == "street_a"
json.dump(rows, open(os.path.join(out, "export_rows.json"), "w"), indent=1)
json.dump(expected, open(os.path.join(out, "expected_pixels.json"), "w"), indent=1, sort_keys=True)
print("wrote", out)
