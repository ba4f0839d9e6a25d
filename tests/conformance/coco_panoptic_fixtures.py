"""Writes fixtures/coco_panoptic/ with Datumaro (1.13.12) and, for COCO's own
shape, with numpy + Pillow as panopticapi's converters write it.

    python tests/conformance/coco_panoptic_fixtures.py fixtures/coco_panoptic

- datumaro_export/: `Dataset.export(..., "coco_panoptic", save_media=True)` of
  two subsets: two instances of a thing class (one a crowd), a stuff class, an
  item in a subfolder (`sub/b`), and an image without masks; image ids given
  (Datumaro numbers them in an order that changes from run to run). Datumaro writes
  every category with `isthing: 0`, no colours, and ids from 1.
- official_style/: the layout of COCO's panoptic_val2017 download:
  `annotations/panoptic_val2017.json` with its keys in COCO's order
  (categories last), category ids with gaps (1, 184), `isthing` and
  `color`, colour-derived 24-bit segment ids, a crowd segment, image ids
  that are not positions (139, 285), and the images in `val2017/`.
- bad_*: official_style broken one way each, for the errors maskconv gives
  (a PNG id segments_info does not list; a listed id on no pixel; a
  category_id the categories do not list).
"""
import contextlib
import copy
import io
import json
import os
import shutil
import sys

import numpy as np
from PIL import Image

from fixture_folders import clear

out = sys.argv[1]


def datumaro_export(folder):
    import datumaro as dm
    from datumaro.components.annotation import AnnotationType, LabelCategories, Mask
    from datumaro.components.media import Image as DmImage
    h, w = 10, 12
    person_1 = np.zeros((h, w), bool); person_1[1:5, 1:4] = True
    person_2 = np.zeros((h, w), bool); person_2[5:9, 2:6] = True
    sky = np.zeros((h, w), bool); sky[:3, 6:] = True
    road = np.zeros((h, w), bool); road[8:, :] = True; road[8:, 2:6] = False
    media = lambda v: DmImage.from_numpy(np.full((h, w, 3), v, np.uint8))  # noqa: E731
    items = [
        dm.DatasetItem(id="street_1", subset="train", media=media(40), attributes={"id": 1}, annotations=[
            Mask(image=person_1, label=0, id=1, attributes={"is_crowd": False}),
            Mask(image=person_2, label=0, id=2, attributes={"is_crowd": True}),
            Mask(image=sky, label=1, id=3), Mask(image=road, label=2, id=4)]),
        dm.DatasetItem(id="sub/b", subset="train", media=media(80), attributes={"id": 2}, annotations=[
            Mask(image=road, label=2, id=1), Mask(image=person_1, label=0, id=2)]),
        dm.DatasetItem(id="field_7", subset="val", media=media(120), attributes={"id": 3}, annotations=[
            Mask(image=sky, label=1, id=5), Mask(image=~sky, label=2, id=6)]),
        dm.DatasetItem(id="empty_9", subset="val", media=media(160), attributes={"id": 4}),
    ]
    labels = LabelCategories.from_iterable(["person", "sky", "road"])
    dataset = dm.Dataset.from_iterable(items, categories={AnnotationType.label: labels})
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        dataset.export(folder, "coco_panoptic", save_media=True)


def rgb(ids):
    ids = np.asarray(ids, np.int64)
    return np.stack([ids % 256, (ids // 256) % 256, ids // 65536], -1).astype(np.uint8)


def official_style(folder):
    """Two images as COCO's panoptic_val2017 has them; returns the JSON."""
    os.makedirs(f"{folder}/annotations/panoptic_val2017")
    os.makedirs(f"{folder}/val2017")
    person, crowd, sky, grass = 3000000, 65541, 260, 9151680
    a = np.zeros((6, 8), np.int64)
    a[0:3, 0:2] = person; a[3:6, 0:3] = crowd; a[:, 5:] = sky
    b = np.full((5, 7), grass, np.int64); b[0:2, :] = sky; b[4, 6] = 0
    images, annotations = [], []
    for image_id, name, ids, segments in [
        (139, "000000000139", a, [(person, 1, 0), (crowd, 1, 1), (sky, 184, 0)]),
        (285, "000000000285", b, [(sky, 184, 0), (grass, 193, 0)]),
    ]:
        h, w = ids.shape
        Image.fromarray(rgb(ids)).save(f"{folder}/annotations/panoptic_val2017/{name}.png")
        Image.fromarray(np.full((h, w, 3), 90, np.uint8)).save(f"{folder}/val2017/{name}.jpg", quality=90)
        images.append({"license": 1, "file_name": f"{name}.jpg", "coco_url": "", "height": h, "width": w,
                       "date_captured": "2013-11-14 17:02:52", "flickr_url": "", "id": image_id})
        infos = []
        for sid, cat, is_crowd in segments:
            ys, xs = np.nonzero(ids == sid)
            infos.append({"id": sid, "category_id": cat, "iscrowd": is_crowd, "area": int(len(xs)),
                          "bbox": [int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1),
                                   int(ys.max() - ys.min() + 1)]})
        annotations.append({"segments_info": infos, "file_name": f"{name}.png", "image_id": image_id})
    doc = {
        "info": {"description": "COCO 2018 Panoptic Dataset", "url": "http://cocodataset.org", "version": "1.0",
                 "year": 2018, "contributor": "https://arxiv.org/abs/1801.00868", "date_created": "2018-06-01"},
        "licenses": [{"url": "http://creativecommons.org/licenses/by-nc-sa/2.0/", "id": 1, "name": "BY-NC-SA"}],
        "images": images,
        "annotations": annotations,
        "categories": [
            {"supercategory": "person", "isthing": 1, "id": 1, "name": "person", "color": [220, 20, 60]},
            {"supercategory": "sky", "isthing": 0, "id": 184, "name": "sky-other-merged", "color": [255, 255, 255]},
            {"supercategory": "plant", "isthing": 0, "id": 193, "name": "grass-merged", "color": [152, 251, 152]},
        ],
    }
    write_json(folder, doc)
    return doc


def write_json(folder, doc):
    with open(f"{folder}/annotations/panoptic_val2017.json", "w") as f:
        json.dump(doc, f)


def broken(name, change):
    folder = f"{out}/{name}"
    shutil.copytree(f"{out}/official_style", folder)
    doc = copy.deepcopy(official)
    change(doc, folder)
    write_json(folder, doc)


clear(out)
datumaro_export(f"{out}/datumaro_export")
official = official_style(f"{out}/official_style")
# The crowd segment's id is on its pixels but no longer listed.
broken("bad_unlisted_id", lambda doc, _: doc["annotations"][0]["segments_info"].pop(1))
# A segment listed that no pixel has.
broken("bad_listed_id_without_pixels", lambda doc, _: doc["annotations"][1]["segments_info"].append(
    {"id": 12345, "category_id": 184, "iscrowd": 0, "area": 0, "bbox": [0, 0, 0, 0]}))
# A category_id that the categories do not list.
broken("bad_unknown_category", lambda doc, _: doc["annotations"][1]["segments_info"][1].update(category_id=7))
