"""Writes fixtures/semantic/ with numpy + Pillow, in the layouts training
frameworks read (Pillow as mmsegmentation and Hugging Face load masks).

    python tests/conformance/semantic_fixtures.py fixtures/semantic

- mmseg_voc_style/: Pascal VOC as mmsegmentation's VOC dataset has it:
  `img_dir/train/`, `ann_dir/train/` palette PNGs (the VOC palette; 0 is the
  class `background`, 255 the boundaries to ignore), and the Hugging Face
  `id2label` of the 21 VOC classes as `classes.json`.
- ultralytics_names_only/: `data.yaml` (`names` as a block mapping) with
  `images/{train,val}/` and 8-bit gray `masks/{train,val}/`, no classes.json.
- datumaro_meta/: Datumaro's common_semantic_segmentation: `dataset_meta.json`
  (`label_map`, `segmentation_colors`), `images/`, `masks/`.
- bad_value_not_a_class/: a mask value (7) that classes.json does not list.
- bad_mmseg_without_classes/: ann_dir/ masks and nothing naming their classes.
"""
import json
import os
import shutil
import sys

import numpy as np
from PIL import Image

from fixture_folders import clear

out = sys.argv[1]
VOC = ["background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
       "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor"]


def voc_palette():
    palette = []
    for i in range(256):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        palette += [r, g, b]
    return palette


def save_gray(path, values):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(np.asarray(values, np.uint8), "L").save(path)


def save_image(path, shape, shade):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(np.full(shape + (3,), shade, np.uint8)).save(path, quality=90)


def write_json(path, doc):
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as f:
        json.dump(doc, f, indent=2)


clear(out)

# mmseg, VOC style: palette masks, background a class, 255 boundaries.
root = f"{out}/mmseg_voc_style"
a = np.zeros((8, 10), np.uint8); a[1:5, 1:5] = 15; a[0:6, 0] = 255; a[5:, 6:] = 1; a[4, 6:] = 255
b = np.full((6, 6), 7, np.uint8); b[:2, :] = 0; b[2, :] = 255
for name, mask in [("2007_000032", a), ("2007_000039", b)]:
    image = Image.fromarray(mask, "P")
    image.putpalette(voc_palette())
    os.makedirs(f"{root}/ann_dir/train", exist_ok=True)
    image.save(f"{root}/ann_dir/train/{name}.png")
    save_image(f"{root}/img_dir/train/{name}.jpg", mask.shape, 100)
write_json(f"{root}/classes.json", {"id2label": {str(i): n for i, n in enumerate(VOC)}})

# Ultralytics: data.yaml names only, two subsets.
root = f"{out}/ultralytics_names_only"
os.makedirs(root)
with open(f"{root}/data.yaml", "w") as f:
    f.write("path: .\ntrain: images/train\nval: images/val\nmasks_dir: masks\nnames:\n  0: road\n  1: sidewalk\n  2: 'traffic sign'\n")
c = np.full((4, 6), 0, np.uint8); c[:, 3:] = 1; c[0, 0] = 255
d = np.full((3, 3), 2, np.uint8); d[2, :] = 0
save_gray(f"{root}/masks/train/frankfurt_000000.png", c)
save_image(f"{root}/images/train/frankfurt_000000.jpg", c.shape, 60)
save_gray(f"{root}/masks/val/munster_000001.png", d)
save_image(f"{root}/images/val/munster_000001.jpg", d.shape, 70)
save_image(f"{root}/images/val/munster_000002.jpg", d.shape, 80)  # an image without mask

# Datumaro's common_semantic_segmentation.
root = f"{out}/datumaro_meta"
write_json(f"{root}/dataset_meta.json", {"label_map": {"0": "background", "1": "cat", "2": "dog"},
                                         "segmentation_colors": [[0, 0, 0], [128, 0, 0], [0, 128, 0]]})
e = np.zeros((5, 5), np.uint8); e[1:4, 1:3] = 1; e[1:4, 3:] = 2
save_gray(f"{root}/masks/img1.png", e)
save_image(f"{root}/images/img1.jpg", e.shape, 30)

# Bad inputs.
root = f"{out}/bad_value_not_a_class"
write_json(f"{root}/classes.json", {"id2label": {"0": "road", "1": "car", "2": "sky"}})
f = np.zeros((3, 4), np.uint8); f[1, 1:3] = 7
save_gray(f"{root}/ann_dir/train/x.png", f)
root = f"{out}/bad_mmseg_without_classes"
save_gray(f"{root}/ann_dir/train/x.png", np.zeros((2, 2), np.uint8))
