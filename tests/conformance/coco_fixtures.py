"""Writes fixtures/coco/ with pycocotools (2.0.11) and Datumaro (1.13.12).

    python tests/conformance/coco_fixtures.py fixtures/coco

- official_style/: the shape of COCO's instances_val2017.json: keys in
  COCO's order, `info` and `licenses`, category ids with gaps (1, 3, 18)
  and supercategories, image ids that are not positions (139, 285, 632),
  polygons with float coordinates (one annotation of two rings) for
  `iscrowd: 0`, uncompressed counts for an `iscrowd: 1` region, a
  compressed RLE string as pycocotools' `mask.encode` writes it, a box-only
  annotation (`segmentation: []`), two annotations that overlap (the later
  in the file wins), an image without annotations, and the images in
  `val2017/`.
- datumaro_export/: `Dataset.export(..., "coco_instances", save_media=True)`
  of two subsets: mask instances (Datumaro writes them as uncompressed
  counts with `iscrowd: 1`), a polygon (`iscrowd: 0`), an item in a
  subfolder, an item without annotations; image ids given (Datumaro numbers
  them in an order that changes from run to run).
- bad_*: official_style broken one way each, for the errors maskconv gives
  (RLE counts that do not cover the image; an RLE whose size is not the
  image's; a ring of an odd number of coordinates; a category_id the
  categories do not list; a counts string with a character outside a COCO RLE).
"""
import contextlib
import copy
import io
import json
import os
import sys

import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils

from fixture_folders import clear

out = sys.argv[1]


def rle(mask):
    encoded = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    encoded["counts"] = encoded["counts"].decode("ascii")
    return encoded


def uncompressed(mask):
    flat = mask.astype(np.uint8).flatten(order="F")
    counts, value, run = [], 0, 0
    for pixel in flat:
        if pixel != value:
            counts.append(run)
            value, run = pixel, 0
        run += 1
    counts.append(run)
    return {"counts": [int(c) for c in counts], "size": list(mask.shape)}


def official_style(folder):
    h, w = 12, 16
    car = np.zeros((h, w), bool); car[6:10, 1:7] = True
    crowd = np.zeros((h, w), bool); crowd[0:3, 9:15] = True
    dog = np.zeros((h, w), bool); dog[2:8, 3:9] = True; dog[4:6, 5:7] = False  # a hole
    images = [
        {"license": 1, "file_name": "000000000139.jpg", "height": h, "width": w, "id": 139},
        {"license": 1, "file_name": "000000000285.jpg", "height": h, "width": w, "id": 285},
        {"license": 1, "file_name": "000000000632.jpg", "height": h, "width": w, "id": 632},
    ]
    annotations = [
        # Two rings: a triangle and a rectangle, one person.
        {"segmentation": [[1.5, 1.0, 5.5, 1.0, 3.0, 4.5], [10.0, 5.0, 14.0, 5.0, 14.0, 10.0, 10.0, 10.0]],
         "area": 30.5, "iscrowd": 0, "image_id": 139, "bbox": [1.5, 1.0, 12.5, 9.0],
         "category_id": 1, "id": 1768},
        {"segmentation": rle(car), "area": int(car.sum()), "iscrowd": 0, "image_id": 139,
         "bbox": [1.0, 6.0, 6.0, 4.0], "category_id": 3, "id": 1769},
        {"segmentation": uncompressed(crowd), "area": int(crowd.sum()), "iscrowd": 1,
         "image_id": 139, "bbox": [9.0, 0.0, 6.0, 3.0], "category_id": 1, "id": 900100000139},
        # A box only.
        {"segmentation": [], "area": 12.0, "iscrowd": 0, "image_id": 285,
         "bbox": [0.0, 0.0, 4.0, 3.0], "category_id": 18, "id": 1770},
        {"segmentation": rle(dog), "area": int(dog.sum()), "iscrowd": 0, "image_id": 285,
         "bbox": [3.0, 2.0, 6.0, 6.0], "category_id": 18, "id": 1771},
        # Overlaps the dog (file order: it wins where they meet).
        {"segmentation": [[6.0, 5.0, 12.0, 5.0, 12.0, 11.0, 6.0, 11.0]], "area": 36.0,
         "iscrowd": 0, "image_id": 285, "bbox": [6.0, 5.0, 6.0, 6.0], "category_id": 1,
         "id": 1772},
    ]
    categories = [
        {"supercategory": "person", "id": 1, "name": "person"},
        {"supercategory": "vehicle", "id": 3, "name": "car"},
        {"supercategory": "animal", "id": 18, "name": "dog"},
    ]
    document = {
        "info": {"description": "COCO-style fixture", "version": "1.0", "year": 2017},
        "licenses": [{"url": "http://creativecommons.org/licenses/by/2.0/", "id": 1, "name": "by"}],
        "images": images, "annotations": annotations, "categories": categories,
    }
    write_json(os.path.join(folder, "annotations/instances_val2017.json"), document)
    os.makedirs(os.path.join(folder, "val2017"), exist_ok=True)
    for i, image in enumerate(images):
        Image.fromarray(np.full((h, w, 3), 50 * i, np.uint8)).save(
            os.path.join(folder, "val2017", image["file_name"]), quality=90)
    return document


def datumaro_export(folder):
    import datumaro as dm
    from datumaro.components.annotation import AnnotationType, LabelCategories, Mask, Polygon
    from datumaro.components.media import Image as DmImage
    h, w = 10, 12
    person = np.zeros((h, w), bool); person[1:5, 1:4] = True
    car = np.zeros((h, w), bool); car[5:9, 5:11] = True
    media = lambda v: DmImage.from_numpy(np.full((h, w, 3), v, np.uint8))  # noqa: E731
    items = [
        dm.DatasetItem(id="street_1", subset="train", media=media(40), attributes={"id": 1}, annotations=[
            Mask(image=person, label=0, id=1), Mask(image=car, label=1, id=2),
            Polygon(points=[6.0, 0.0, 11.0, 0.0, 11.0, 3.0, 6.0, 3.0], label=0, id=3)]),
        dm.DatasetItem(id="sub/b", subset="train", media=media(80), attributes={"id": 2}, annotations=[
            Mask(image=car, label=1, id=4)]),
        dm.DatasetItem(id="empty_9", subset="val", media=media(160), attributes={"id": 3}),
    ]
    labels = LabelCategories.from_iterable(["person", "car"])
    dataset = dm.Dataset.from_iterable(items, categories={AnnotationType.label: labels})
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        dataset.export(folder, "coco_instances", save_media=True)


def write_json(path, document):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(document, f)


def bad(name, document, change):
    broken = copy.deepcopy(document)
    change(broken)
    write_json(os.path.join(out, name, "annotations/instances_val2017.json"), broken)


def short_counts(d):
    d["annotations"][2]["segmentation"]["counts"] = d["annotations"][2]["segmentation"]["counts"][:-1]


def other_size(d):
    d["annotations"][1]["segmentation"]["size"] = [16, 12]


def odd_ring(d):
    d["annotations"][0]["segmentation"][1].pop()


def unknown_category(d):
    d["annotations"][4]["category_id"] = 7


def bad_character(d):
    d["annotations"][1]["segmentation"]["counts"] += "~"


clear(out)
document = official_style(os.path.join(out, "official_style"))
datumaro_export(os.path.join(out, "datumaro_export"))
bad("bad_rle_counts_short", document, short_counts)
bad("bad_rle_other_size", document, other_size)
bad("bad_ring_odd_coordinates", document, odd_ring)
bad("bad_unknown_category", document, unknown_category)
bad("bad_rle_string_character", document, bad_character)
