"""The COCO instances checks of the conformance suite: maskconv's `coco`
output loaded by pycocotools (`COCO`, `annToMask` painted into index masks
and compared pixel for pixel with maskconv's semantic masks of the same
source; `area` and `bbox` as pycocotools computes them; the RLE strings
`mask.encode` writes; `COCOeval` segm AP 1.0 of the output against itself),
imported by Datumaro (`coco_instances`), and COCO files written by
pycocotools and Datumaro read by maskconv as they read them.

suite.py calls `add(suite)` with itself, for its helpers.
"""
import json
from pathlib import Path

from training_checks import labelled, quiet


def coco_files(root):
    files = sorted(Path(root).glob("annotations/instances_*.json"))
    assert files, f"{root}: no annotations/instances_*.json"
    return files


def load(path):
    from pycocotools.coco import COCO
    with quiet():
        return COCO(str(path))


def checked_ids(doc, path):
    """Image, annotation and category ids are integers ≥ 1, each unique."""
    for key in ("images", "annotations", "categories"):
        ids = [entry["id"] for entry in doc[key]]
        assert all(isinstance(i, int) and i >= 1 for i in ids), f"{path.name}: {key} ids {ids[:5]} not all ≥ 1"
        assert len(set(ids)) == len(ids), f"{path.name}: {key} ids repeat"
    assert "info" in doc and "licenses" in doc, f"{path.name}: no info or licenses"


def pycocotools_index_masks(root, names_to_index, unlabeled):
    """Per item (subset, key): the index mask pycocotools' annToMask gives,
    each annotation painted in file order; checks that no two overlap and
    that area and bbox are pycocotools' area and toBbox."""
    import numpy as np
    from pycocotools import mask as mask_utils
    found = {}
    for path in coco_files(root):
        doc = json.loads(path.read_text())
        checked_ids(doc, path)
        coco = load(path)
        subset = path.stem[len("instances_"):]
        names = {c["id"]: c["name"] for c in doc["categories"]}
        for image in doc["images"]:
            if "height" not in image:
                assert not coco.getAnnIds(imgIds=[image["id"]]), f"image {image['id']}: annotations but no size"
                continue
            h, w = image["height"], image["width"]
            index = np.full((h, w), unlabeled, np.int64)
            covered = np.zeros((h, w), bool)
            for ann in coco.loadAnns(coco.getAnnIds(imgIds=[image["id"]])):
                mask = coco.annToMask(ann).astype(bool)
                assert not (covered & mask).any(), f"{path.name} annotation {ann['id']} overlaps another"
                covered |= mask
                rle = coco.annToRLE(ann)
                assert ann["area"] == int(mask_utils.area(rle)) == int(mask.sum()), f"annotation {ann['id']}: area"
                assert ann["bbox"] == [int(v) for v in mask_utils.toBbox(rle)], f"annotation {ann['id']}: bbox"
                index[mask] = names_to_index[names[ann["category_id"]]]
            found[(subset, image["file_name"].rsplit(".", 1)[0])] = index
    return found


def semantic_index_masks(root):
    """Per item (subset, key): maskconv's semantic (mmseg layout) mask."""
    import numpy as np
    from PIL import Image
    root = Path(root)
    found = {}
    for mask in sorted((root / "ann_dir").rglob("*.png")):
        subset, _, key = str(mask.relative_to(root / "ann_dir").with_suffix("")).partition("/")
        found[(subset, key)] = np.array(Image.open(mask)).astype(np.int64)
    return found


def compressed_strings_are_pycocotools(root):
    """Every compressed RLE string decodes and re-encodes (mask.encode) to itself."""
    import numpy as np
    from pycocotools import mask as mask_utils
    checked = 0
    for path in coco_files(root):
        for ann in json.loads(path.read_text())["annotations"]:
            segmentation = ann["segmentation"]
            if isinstance(segmentation, dict) and isinstance(segmentation["counts"], str):
                rle = {"size": segmentation["size"], "counts": segmentation["counts"].encode("ascii")}
                again = mask_utils.encode(np.asfortranarray(mask_utils.decode(rle)))
                assert again["counts"].decode("ascii") == segmentation["counts"], f"annotation {ann['id']}"
                checked += 1
    return checked


def average_precision(root):
    """COCOeval segm of every file against itself, its non-crowd
    annotations as detections with score 1: AP must be 1.0."""
    from pycocotools.cocoeval import COCOeval
    evaluated = 0
    for path in coco_files(root):
        gt = load(path)
        detections = [dict(ann, score=1.0) for ann in gt.dataset["annotations"] if not ann["iscrowd"]]
        if not detections:
            continue
        most = max(len(gt.getAnnIds(imgIds=[i])) for i in gt.getImgIds())
        with quiet():
            dt = gt.loadRes(detections)
            evaluation = COCOeval(gt, dt, "segm")
            # Every annotation of the fullest image counts (COCO's default keeps 100).
            evaluation.params.maxDets = [1, 10, max(100, most)]
            evaluation.evaluate()
            evaluation.accumulate()
        # summarize()'s AP: precision over IoU thresholds, recall, classes,
        # area "all", the last maxDets; -1 where a class has no annotation.
        precision = evaluation.eval["precision"][:, :, :, 0, -1]
        ap = float(precision[precision > -1].mean())
        assert abs(ap - 1.0) < 1e-12, f"{path.name}: segm AP {ap}"
        evaluated += 1
    assert evaluated, f"{root}: no annotations to evaluate"


def datumaro_instances(path):
    """Per item: pixels per label as Datumaro's coco_instances importer
    reads them (polygons rasterised with pycocotools)."""
    import numpy as np
    import datumaro as dm
    from pycocotools import mask as mask_utils
    with quiet():
        dataset = dm.Dataset.import_from(str(path), "coco_instances")
    labels = dataset.categories()[dm.AnnotationType.label]
    found = {}
    for item in dataset:
        h, w = item.media.size if item.media and item.media.has_size else (None, None)
        by_label = {}
        for ann in item.annotations:
            if ann.label is None:
                continue
            if ann.type == dm.AnnotationType.mask:
                mask = ann.image.astype(bool)
            elif ann.type == dm.AnnotationType.polygon:
                rles = mask_utils.frPyObjects([ann.points], h, w)
                mask = mask_utils.decode(mask_utils.merge(rles)).astype(bool)
            else:
                continue
            name = labels[ann.label].name
            by_label[name] = by_label.get(name, np.zeros_like(mask)) | mask
        assert item.id not in found, f"{item.id} twice"
        found[item.id] = {name: int(mask.sum()) for name, mask in by_label.items() if mask.any()}
    return labelled(found)


def pycocotools_reading(root):
    """Per item: pixels per category as pycocotools reads a COCO file
    painted in file order (the later annotation wins)."""
    import numpy as np
    found = {}
    for path in coco_files(root):
        doc = json.loads(path.read_text())
        coco = load(path)
        names = {c["id"]: c["name"] for c in doc["categories"]}
        for image in doc["images"]:
            if "height" not in image:
                continue
            index = np.zeros((image["height"], image["width"]), np.int64)
            for ann in doc["annotations"]:
                if ann["image_id"] == image["id"] and ann["segmentation"]:
                    index[coco.annToMask(ann).astype(bool)] = ann["category_id"]
            values, pixels = np.unique(index, return_counts=True)
            found[image["file_name"].rsplit(".", 1)[0]] = {
                names[v]: n for v, n in zip(values.tolist(), pixels.tolist()) if v
            }
    return labelled(found)


def polygon_ious(rle_out, polygon_out):
    """Per non-crowd object: the IoU of pycocotools' fill of its polygons
    (frPyObjects + merge, as annToMask and torchvision fill them) with its
    pixels (the RLE output's same annotation); checks that no pixel is lost
    and that `area` is the filled pixels."""
    import numpy as np
    ious = []
    for rle_path, polygon_path in zip(coco_files(rle_out), coco_files(polygon_out)):
        exact, traced = load(rle_path), load(polygon_path)
        pairs = zip(exact.dataset["annotations"], traced.dataset["annotations"])
        for truth, ann in pairs:
            assert truth["id"] == ann["id"], f"{polygon_path.name}: annotation order differs"
            if ann["iscrowd"]:
                continue
            assert isinstance(ann["segmentation"], list), f"annotation {ann['id']}: not polygons"
            filled, pixels = traced.annToMask(ann).astype(bool), exact.annToMask(truth).astype(bool)
            assert not (pixels & ~filled).any(), f"annotation {ann['id']}: pixels outside its polygons"
            assert ann["area"] == int(filled.sum()), f"annotation {ann['id']}: area {ann['area']}"
            ious.append((pixels & filled).sum() / (pixels | filled).sum())
    return ious


def reported_mean_iou(report):
    """The mean IoU maskconv's `polygon-iou` warning gives."""
    import re
    [summary] = [w["examples"][0] for w in report["warnings"] if w["code"] == "polygon-iou"]
    return float(re.search(r"mean IoU ([0-9.]+)", summary).group(1))


def add(s):
    for source in s.sources("coco/official_style", "cvat/generated_cvat_export/dataset", "segments/sdk_release",
                            "nucleus/sdk_annotations", "datagen/three_real_datapoints",
                            "coco_panoptic/official_style", synthetic=s.FORMATS):
        @s.check(f"coco: pycocotools' annToMask of maskconv's COCO output of {s.name(source)} equals maskconv's index masks pixel for pixel, with pycocotools' area and bbox, and every RLE string is mask.encode's")
        def _(source=source):
            out, skipped = s.convert(source, "coco")
            masks, _ = s.convert(source, "semantic")
            table = json.loads((masks / "classes.json").read_text())
            names_to_index = {name: int(i) for i, name in table["id2label"].items()}
            ours = semantic_index_masks(masks)
            theirs = pycocotools_index_masks(out, names_to_index, table["ignore_index"])
            theirs = {k: v for k, v in theirs.items() if k in ours or v.min() != table["ignore_index"]}
            assert set(theirs) == set(ours), f"items differ: {sorted(set(theirs) ^ set(ours))[:5]}"
            for key, mask in ours.items():
                assert (theirs[key] == mask).all(), f"{key}: {(theirs[key] != mask).sum()} pixels differ"
            assert compressed_strings_are_pycocotools(out) or not ours, "no RLE string checked"

        @s.check(f"coco: COCOeval of maskconv's COCO output of {s.name(source)} against itself gives segm AP 1.0; Datumaro's coco_instances reads it with maskconv's pixels per item and class")
        def _(source=source):
            out, skipped = s.convert(source, "coco")
            average_precision(out)
            s.same(datumaro_instances(out), labelled(s.classes_only(s.per_item(source))), skipped)

        @s.check(f"coco: pycocotools fills maskconv's --segmentation polygon output of {s.name(source)} back to every object's pixels (holes aside), with the mean IoU maskconv reports")
        def _(source=source):
            rle_out, _ = s.convert(source, "coco")
            polygon_out = s.WORK / f"{source.name}-coco-polygon-{len(list(s.WORK.iterdir()))}"
            report = json.loads(s.run([s.MASKCONV, "convert", source, polygon_out, "--to", "coco", "-q", "--json",
                                       "--keep-going", "--segmentation", "polygon"], ok=(0, 3)))
            ious = polygon_ious(rle_out, polygon_out)
            if not ious:
                return "skipped: no object to trace"
            mean = sum(ious) / len(ious)
            assert abs(reported_mean_iou(report) - mean) < 2e-6, f"reported {reported_mean_iou(report)}, pycocotools {mean}"
            lost = [loss for loss in report["losses"] if loss["code"] == "polygon-approximation"]
            assert bool(lost) == (min(ious) < 1), f"polygon-approximation reported: {bool(lost)}, lowest IoU {min(ious)}"

    @s.check("coco: coco_fixtures.py (pycocotools and Datumaro) still writes the committed fixtures byte for byte")
    def _():
        out = s.WORK / "coco-fixtures"
        s.run([s.PY, s.HERE / "coco_fixtures.py", out])
        committed = s.FIXTURES / "coco"
        for path in committed.rglob("*"):
            if path.is_file() and not s.is_golden(path):
                assert (out / path.relative_to(committed)).read_bytes() == path.read_bytes(), f"{path} differs"

    for fixture in ["official_style", "datumaro_export"]:
        @s.check(f"coco: maskconv reads coco/{fixture} as pycocotools reads it (annotations painted in file order), per item and class")
        def _(fixture=fixture):
            path = s.FIXTURES / "coco" / fixture
            s.same(labelled(s.classes_only(s.per_item(path))), pycocotools_reading(path))

    @s.check("coco: a fresh Datumaro coco_instances export (masks and polygons) reads in maskconv as in Datumaro")
    def _():
        import numpy as np
        import datumaro as dm
        from datumaro.components.annotation import AnnotationType, LabelCategories, Mask, Polygon
        from datumaro.components.media import Image
        rng = np.random.default_rng(15)
        items = []
        for i in range(6):
            h, w = 24, 32
            ids = rng.integers(0, 5, size=(h // 4, w // 4)).repeat(4, 0).repeat(4, 1)
            ids[:, -4:] = 0  # room for a polygon
            anns = [Mask(image=ids == v, label=int(v) % 3, id=int(v)) for v in range(1, 5) if (ids == v).any()]
            anns.append(Polygon(points=[28.0, 2.0, 31.0, 2.0, 31.0, 20.0, 28.0, 20.0], label=i % 3, id=9))
            items.append(dm.DatasetItem(id=f"frame_{i}", subset=["train", "val"][i % 2],
                                        media=Image.from_numpy(np.zeros((h, w, 3), np.uint8)),
                                        annotations=anns, attributes={"id": i + 1}))
        labels = LabelCategories.from_iterable(["person", "car", "sky"])
        dataset = dm.Dataset.from_iterable(items, categories={AnnotationType.label: labels})
        out = s.WORK / "datumaro-coco-export"
        with quiet():
            dataset.export(str(out), "coco_instances", save_media=True)
        s.same(labelled(s.classes_only(s.per_item(out))), datumaro_instances(out))
