"""The random polygons of polygons.py as a Segments.ai vector release, and
maskconv's bitmaps of it checked against pycocotools pixel for pixel:

    python tests/conformance/polygons_release.py make POLYGONS.jsonl DIR
    python tests/conformance/polygons_release.py check POLYGONS.jsonl OUT_DIR

`make` writes DIR/release.json (task type "vector"; each label validated by
the SDK's ImageVectorLabelAttributes) with one sample per single-ring
polygon and its image DIR/images/pNNNN.png of the polygon's image size.
`check` decodes OUT_DIR/bitmaps/pNNNN.png with the SDK's loader and compares
the pixels of the polygon's object with pycocotools.mask.decode(
frPyObjects(...)); prints "N polygons equal pycocotools' pixels" and exits 1
on the first that differs.
"""
import json, os, sys
import numpy as np
from PIL import Image
from pycocotools import mask as cocomask
import segments.utils as su
from segments.typing import ImageVectorLabelAttributes


def cases(path):
    for i, line in enumerate(open(path)):
        case = json.loads(line)
        if len(case["rings"]) == 1:
            yield f"p{i:04d}", case


def make(polygons, out):
    os.makedirs(os.path.join(out, "images"), exist_ok=True)
    samples = []
    for name, case in cases(polygons):
        ring = case["rings"][0]
        Image.new("L", (case["width"], case["height"])).save(os.path.join(out, "images", name + ".png"))
        body = {"format_version": "0.1", "annotations": [
            {"id": 1, "category_id": 1, "type": "polygon", "points": [ring[j:j + 2] for j in range(0, len(ring), 2)]}]}
        body = ImageVectorLabelAttributes.model_validate(body).model_dump(mode="json", exclude_unset=True)
        samples.append({"uuid": name, "name": name + ".png", "metadata": {},
                        "attributes": {"image": {"url": f"images/{name}.png"}},
                        "labels": {"ground-truth": {"label_status": "LABELED", "attributes": body}}})
    release = {"name": "polygons", "dataset": {"name": "polygons", "owner": "maskconv", "task_type": "vector",
               "task_attributes": {"format_version": "0.1", "categories": [
                   {"id": 1, "name": "shape", "has_instances": True}]},
               "labelsets": [{"name": "ground-truth"}], "samples": samples}}
    json.dump(release, open(os.path.join(out, "release.json"), "w"))
    print(f"{len(samples)} polygons written as a vector release")


class R:
    def __init__(self, c): self.content = c


class S:
    def get(self, url): return R(open(url, "rb").read())


def check(polygons, out):
    su.session = S()
    n = 0
    for name, case in cases(polygons):
        h, w = case["height"], case["width"]
        ours = su.load_label_bitmap_from_url(os.path.join(out, "bitmaps", name + ".png")) > 0
        theirs = cocomask.decode(cocomask.merge(cocomask.frPyObjects(case["rings"], h, w))) > 0
        if ours.shape != theirs.shape or not np.array_equal(ours, theirs):
            print(f"{name} ({case['kind']} on {w}x{h}) differs: {int((ours != theirs).sum())} pixels; {case['rings']}")
            sys.exit(1)
        n += 1
    print(f"{n} polygons equal pycocotools' pixels")


{"make": make, "check": check}[sys.argv[1]](sys.argv[2], sys.argv[3])
