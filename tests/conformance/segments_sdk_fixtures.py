"""Writes fixtures/segments/ with the official segments-ai SDK (1.33.0), offline.

    python tests/conformance/segments_sdk_fixtures.py fixtures/segments

- sdk_release/: release.json (the keys SegmentsDataset reads) + bitmaps/*.png
  written by segments.utils.bitmap2file. street.png holds object ids 1, 255,
  256, 65536 and 0x123456 (and 0); field.png two instances and a stuff region.
  Samples with a null label, a SKIPPED label (no segmentation_bitmap, as in
  SDK issue #58) and a null bitmap url (issue #84); a category with
  "has_instances": null (the SDK's panoptic exporter crashes on it).
- sdk_cache/, sdk_cache_clipped/: the field and street labels as
  SegmentsDataset caches them (<name>_label_ground-truth.png, 16-bit gray; the
  street ids 65536 and 0x123456 are clipped to 65535 there), each with a
  release pointing at it.
- expected.json: per sample key, pixels per object id and per category name,
  counted here from the arrays given to bitmap2file; and the ids the SDK's
  loader (load_label_bitmap_from_url) decodes from each bitmap.
"""
import io, json, os, shutil, sys
import numpy as np
import segments.utils as su
from segments.utils import bitmap2file, load_label_bitmap_from_url
from segments.dataset import SegmentsDataset

out = sys.argv[1]
for folder in ["sdk_release", "sdk_cache", "sdk_cache_clipped", "sdk_cache_work"]:
    shutil.rmtree(os.path.join(out, folder), ignore_errors=True)
os.makedirs(os.path.join(out, "sdk_release", "bitmaps"))

street = np.zeros((4, 6), np.uint32)
street[0, :] = 1; street[1, :3] = 255; street[1, 3:] = 256; street[2, :] = 65536; street[3, :4] = 0x123456
field = np.full((3, 5), 3, np.uint32); field[0, 0:2] = 1; field[2, 3:] = 2
bitmaps = {"street": street, "field": field}
for name, ids in bitmaps.items():
    open(os.path.join(out, "sdk_release", "bitmaps", name + ".png"), "wb").write(bitmap2file(ids).getvalue())

categories = [
    {"id": 1, "name": "car", "color": [255, 0, 0], "has_instances": True},
    {"id": 2, "name": "road", "color": [0, 0, 255, 255], "has_instances": False},
    {"id": 5, "name": "sign", "has_instances": None},
    {"id": 9, "name": "tree"},
]
annotations = {
    "street": [{"id": 1, "category_id": 1}, {"id": 255, "category_id": 1, "attributes": {"occluded": True}},
               {"id": 256, "category_id": 5}, {"id": 65536, "category_id": 2},
               {"id": 0x123456, "category_id": 9, "attributes": {"kind": "oak", "tags": ["a", "b"]}}],
    "field": [{"id": 1, "category_id": 1}, {"id": 2, "category_id": 1}, {"id": 3, "category_id": 2}],
}

def sample(uuid, name, label):
    return {"uuid": uuid, "name": name, "metadata": {}, "attributes": {"image": {"url": ""}},
            "labels": {"ground-truth": label}}

def labeled(key, url):
    return {"label_status": "LABELED", "attributes": {"format_version": "0.1", "annotations": annotations[key],
            "segmentation_bitmap": {"url": url}}}

def release(samples):
    return {"name": "v1.0", "description": "", "created_at": "2026-01-01T00:00:00Z",
            "dataset": {"name": "fixture", "owner": "maskconv", "task_type": "segmentation-bitmap",
                        "task_attributes": {"format_version": "0.1", "categories": categories},
                        "labelsets": [{"name": "ground-truth", "description": ""}], "samples": samples}}

samples = [
    sample("u-1", "street.jpg", labeled("street", "bitmaps/street.png")),
    sample("u-2", "sub/field.png", labeled("field", "bitmaps/field.png")),
    sample("u-3", "unlabeled.jpg", None),
    sample("u-4", "skipped.jpg", {"label_status": "SKIPPED"}),
    sample("u-5", "no_bitmap.jpg", {"label_status": "LABELED", "attributes": {"format_version": "0.1",
           "annotations": [], "segmentation_bitmap": {"url": None}}}),
]
json.dump(release(samples), open(os.path.join(out, "sdk_release", "release.json"), "w"), indent=1)

# The SDK's own loading: patch its HTTP session to read local files.
class R:
    def __init__(self, c): self.content = c
class S:
    def get(self, url): return R(open(url, "rb").read())
su.session = S()
os.chdir(os.path.join(out, "sdk_release"))
decoded = {k: sorted(np.unique(load_label_bitmap_from_url(f"bitmaps/{k}.png")).tolist()) for k in bitmaps}
cache_root = os.path.abspath("../sdk_cache_work")
# The SDK caches "sub/field.png" under a sub folder it does not create itself.
os.makedirs(os.path.join(cache_root, "maskconv_fixture", "v1.0", "sub"))
ds = SegmentsDataset("release.json", labelset="ground-truth", segments_dir=cache_root, load_images=False)
assert len(ds) == 5
image_dir = ds.image_dir
os.chdir("..")
for folder, key, cache in [("sdk_cache", "field", "sub/field_label_ground-truth.png"),
                           ("sdk_cache_clipped", "street", "street_label_ground-truth.png")]:
    os.makedirs(os.path.join(folder, "cache"))
    shutil.copy(os.path.join(image_dir, cache), os.path.join(folder, "cache", key + "_label_ground-truth.png"))
    cached = [sample("u-1", key + ".jpg", labeled(key, f"cache/{key}_label_ground-truth.png"))]
    json.dump(release(cached), open(os.path.join(folder, "release.json"), "w"), indent=1)
shutil.rmtree(cache_root)

cat_name = {c["id"]: c["name"] for c in categories}
expected = {}
for key, ids in bitmaps.items():
    per_id = {str(int(i)): int(n) for i, n in zip(*np.unique(ids, return_counts=True))}
    per_cat = {}
    for a in annotations[key]:
        per_cat[cat_name[a["category_id"]]] = per_cat.get(cat_name[a["category_id"]], 0) + per_id.get(str(a["id"]), 0)
    expected[key] = {"pixels_per_id": per_id, "pixels_per_category": per_cat, "sdk_decoded_ids": decoded[key]}
json.dump(expected, open("expected.json", "w"), indent=1, sort_keys=True)
print("wrote", out, expected)
