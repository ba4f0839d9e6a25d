"""The training formats' checks of the conformance suite: COCO panoptic output
imported by Datumaro (`coco_panoptic`), evaluated by an independent panoptic
quality implementation (hotcoco, pinned), and read the way panopticapi reads
it (rgb2id + segments_info); Datumaro's own coco_panoptic exports read by
maskconv as Datumaro reads them; semantic index masks imported by Datumaro
(`common_semantic_segmentation`) and read through Pillow and PyYAML as
mmsegmentation, Ultralytics and Hugging Face load them.

suite.py calls `add(suite)` with itself, for its helpers (`check`, `convert`,
`per_item`, `same`, `sources`, ...).
"""
import contextlib
import io
import json
import shutil
from pathlib import Path


def quiet():
    stack = contextlib.ExitStack()
    stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
    stack.enter_context(contextlib.redirect_stderr(io.StringIO()))
    return stack


def labelled(items):
    """Only the items with labelled pixels: {key: {class: pixels}}."""
    return {key: classes for key, classes in items.items() if classes}


def datumaro_panoptic(path):
    """Per item: pixels per label as Datumaro's coco_panoptic importer reads them."""
    import numpy as np
    import datumaro as dm
    with quiet():
        dataset = dm.Dataset.import_from(str(path), "coco_panoptic")
    labels = dataset.categories()[dm.AnnotationType.label]
    found = {}
    for item in dataset:
        counts = {}
        for ann in item.annotations:
            if ann.type == dm.AnnotationType.mask and ann.label is not None:
                pixels = int(np.count_nonzero(ann.image))
                if pixels:
                    name = labels[ann.label].name
                    counts[name] = counts.get(name, 0) + pixels
        assert item.id not in found, f"{item.id} twice"
        found[item.id] = counts
    return labelled(found)


def annotation_files(root):
    files = sorted(Path(root).glob("annotations/panoptic_*.json"))
    assert files, f"{root}: no annotations/panoptic_*.json"
    return files


def rgb2id_counts(root):
    """Per item: pixels per category name, read as panopticapi reads a
    dataset: the PNG through rgb2id, every id looked up in segments_info
    (a KeyError when one is missing, and every listed id must be on the PNG)."""
    import numpy as np
    from PIL import Image
    found = {}
    for path in annotation_files(root):
        doc = json.loads(path.read_text())
        names = {c["id"]: c["name"] for c in doc["categories"]}
        stems = {i["id"]: i["file_name"].rsplit(".", 1)[0] for i in doc["images"]}
        folder = path.with_suffix("")
        for ann in doc["annotations"]:
            rgb = np.asarray(Image.open(folder / ann["file_name"]), dtype=np.uint32)
            assert rgb.ndim == 3 and rgb.shape[2] == 3, f"{ann['file_name']}: not 8-bit RGB"
            ids = rgb[..., 0] + 256 * rgb[..., 1] + 256 * 256 * rgb[..., 2]
            listed = {s["id"]: s for s in ann["segments_info"]}
            values, pixels = np.unique(ids, return_counts=True)
            counts = {}
            for value, n in zip(values.tolist(), pixels.tolist()):
                if value == 0:
                    continue
                segment = listed.pop(value)  # KeyError: an id the JSON does not list
                assert segment["area"] == n, f"{ann['file_name']}: segment {value} area {segment['area']} != {n}"
                name = names[segment["category_id"]]
                counts[name] = counts.get(name, 0) + n
            assert not listed, f"{ann['file_name']}: listed ids on no pixel: {sorted(listed)}"
            found[stems[ann["image_id"]]] = counts
    return labelled(found)


def panoptic_quality(root):
    """hotcoco's pq_compute of the dataset against itself, per annotation file."""
    import hotcoco.panoptic
    evaluated = 0
    for path in annotation_files(root):
        if not json.loads(path.read_text())["annotations"]:
            continue  # a subset of images without masks: nothing to evaluate
        evaluated += 1
        with quiet():
            result = hotcoco.panoptic.pq_compute(str(path), str(path))
        for part in ("All",):
            assert abs(result[part]["pq"] - 1.0) < 1e-12, f"{path.name}: {part} PQ {result[part]}"
        things = [c for c in json.loads(path.read_text())["categories"] if c["isthing"]]
        if things:
            assert abs(result["Things"]["pq"] - 1.0) < 1e-12, f"{path.name}: Things PQ {result['Things']}"
    assert evaluated, f"{root}: no annotations to evaluate"


def add(s):
    add_panoptic(s)
    add_semantic(s)


def add_panoptic(s):
    for source in s.sources("coco_panoptic/official_style", "cvat/generated_cvat_export/dataset",
                            "segments/sdk_release", "nucleus/sdk_annotations", "datagen/three_real_datapoints",
                            synthetic=s.FORMATS):
        @s.check(f"coco-panoptic: Datumaro imports maskconv's COCO panoptic output of {s.name(source)} with maskconv's pixels per item and class")
        def _(source=source):
            out, skipped = s.convert(source, "coco-panoptic")
            s.same(datumaro_panoptic(out), labelled(s.classes_only(s.per_item(source))), skipped)

        @s.check(f"coco-panoptic: maskconv's COCO panoptic output of {s.name(source)} has PQ 1.0 against itself (hotcoco) and reads through rgb2id as maskconv reads the source")
        def _(source=source):
            out, skipped = s.convert(source, "coco-panoptic")
            panoptic_quality(out)
            s.same(rgb2id_counts(out), labelled(s.classes_only(s.per_item(source))), skipped)

    @s.check("coco-panoptic: Datumaro still writes the committed fixtures byte for byte")
    def _():
        out = s.WORK / "panoptic-fixtures"
        s.run([s.PY, s.HERE / "coco_panoptic_fixtures.py", out])
        committed = s.FIXTURES / "coco_panoptic"
        for path in committed.rglob("*"):
            if path.is_file() and not s.is_golden(path):
                assert (out / path.relative_to(committed)).read_bytes() == path.read_bytes(), f"{path} differs"

    for fixture in ["datumaro_export", "official_style"]:
        @s.check(f"coco-panoptic: maskconv reads coco_panoptic/{fixture} as Datumaro reads it, per item and class")
        def _(fixture=fixture):
            path = s.FIXTURES / "coco_panoptic" / fixture
            # Datumaro's importer needs an images/ folder, which COCO's own
            # layout (val2017/) has not: it reads a copy that has one.
            copy = s.WORK / f"datumaro-{fixture}"
            shutil.copytree(path, copy)
            (copy / "images").mkdir(exist_ok=True)
            s.same(labelled(s.classes_only(s.per_item(path))), datumaro_panoptic(copy))

    @s.check("coco-panoptic: a fresh Datumaro coco_panoptic export reads in maskconv as in Datumaro")
    def _():
        import numpy as np
        import datumaro as dm
        from datumaro.components.annotation import AnnotationType, LabelCategories, Mask
        from datumaro.components.media import Image
        rng = np.random.default_rng(14)
        items = []
        for i in range(6):
            h, w = 24, 32
            ids = rng.integers(0, 5, size=(h // 4, w // 4)).repeat(4, 0).repeat(4, 1)
            masks = [Mask(image=ids == v, label=int(v) % 3, id=int(v)) for v in range(1, 5) if (ids == v).any()]
            items.append(dm.DatasetItem(id=f"frame_{i}", subset=["train", "val"][i % 2],
                                        media=Image.from_numpy(np.zeros((h, w, 3), np.uint8)), annotations=masks))
        labels = LabelCategories.from_iterable(["person", "car", "sky"])
        dataset = dm.Dataset.from_iterable(items, categories={AnnotationType.label: labels})
        out = s.WORK / "datumaro-panoptic-export"
        with quiet():
            dataset.export(str(out), "coco_panoptic", save_media=True)
        s.same(labelled(s.classes_only(s.per_item(out))), datumaro_panoptic(out))


def datumaro_semantic(path, subsets):
    """Per item (by mask file name): pixels per label as Datumaro's
    common_semantic_segmentation importer reads them (values that are no
    label, such as the ignore value 255, left out)."""
    import numpy as np
    import datumaro as dm
    fmt = "common_semantic_segmentation" + ("_with_subset_dirs" if subsets else "")
    with quiet():
        dataset = dm.Dataset.import_from(str(path), fmt)
    labels = dataset.categories()[dm.AnnotationType.label]
    found = {}
    for item in dataset:
        counts = {}
        for ann in item.annotations:
            if ann.type == dm.AnnotationType.mask and ann.label is not None and ann.label < len(labels):
                pixels = int(np.count_nonzero(ann.image))
                if pixels:
                    counts[labels[ann.label].name] = counts.get(labels[ann.label].name, 0) + pixels
        assert item.id not in found, f"{item.id} twice"
        found[item.id] = counts
    return labelled(found)


def by_flat_name(items):
    """Items keyed as the datumaro layout names their masks: `%` and `/`
    percent-encoded (the keys here need no other escaping)."""
    return {key.replace("%", "%25").replace("/", "%2F"): classes for key, classes in items.items()}


def pillow_counts(root, layout):
    """Per item: pixels per class name, read as mmsegmentation, Ultralytics
    and Hugging Face load masks (Pillow, `np.array(Image.open(mask))`), the
    class names from data.yaml (PyYAML) or classes.json's id2label."""
    import numpy as np
    import yaml
    from PIL import Image
    root = Path(root)
    table = json.loads((root / "classes.json").read_text())
    names = {int(k): v for k, v in table["id2label"].items()}
    if layout == "ultralytics":
        doc = yaml.safe_load((root / "data.yaml").read_text())
        assert doc["masks_dir"] == "masks" and doc["train"] and doc["val"], doc
        assert {int(k): v for k, v in doc["names"].items()} == names, "data.yaml names != classes.json"
    masks = root / {"mmseg": "ann_dir", "ultralytics": "masks"}[layout]
    images = root / {"mmseg": "img_dir", "ultralytics": "images"}[layout]
    skip = {table["ignore_index"], table["unlabeled"]}
    found = {}
    for mask in sorted(masks.rglob("*.png")):
        rel = mask.relative_to(masks)
        if (images / rel.parent).is_dir():
            # A mask's image has its stem, in the same subset folder.
            assert any((images / rel.parent).glob(f"{rel.stem}.*")) or not any(images.rglob("*.*")), rel
        values, pixels = np.unique(np.array(Image.open(mask)), return_counts=True)
        counts = {}
        for value, n in zip(values.tolist(), pixels.tolist()):
            if value not in skip:
                counts[names[value]] = counts.get(names[value], 0) + n
        subset, _, key = str(rel.with_suffix("")).partition("/")
        found[key] = counts
    return labelled(found)


def add_semantic(s):
    for source in s.sources("semantic/ultralytics_names_only", "semantic/mmseg_voc_style",
                            "cvat/generated_cvat_export/dataset", "segments/sdk_release", "nucleus/sdk_annotations",
                            "datagen/three_real_datapoints", "coco_panoptic/datumaro_export",
                            synthetic=s.FORMATS):
        @s.check(f"semantic: Datumaro imports maskconv's --layout datumaro output of {s.name(source)} with maskconv's pixels per item and class")
        def _(source=source):
            out, skipped = s.convert(source, "semantic", "--layout", "datumaro")
            subsets = (out / "dataset_meta.json").exists() is False
            ours = labelled(s.classes_only(s.per_item(source)))
            s.same(datumaro_semantic(out, subsets), by_flat_name({k: v for k, v in ours.items() if k not in skipped}))

        for layout in ["mmseg", "ultralytics"]:
            @s.check(f"semantic: maskconv's --layout {layout} output of {s.name(source)} reads through Pillow (as training loaders read masks) with maskconv's pixels per item and class")
            def _(source=source, layout=layout):
                out, skipped = s.convert(source, "semantic", "--layout", layout)
                s.same(pillow_counts(out, layout), labelled(s.classes_only(s.per_item(source))), skipped)

    @s.check("semantic: semantic_fixtures.py still writes the committed fixtures byte for byte")
    def _():
        out = s.WORK / "semantic-fixtures"
        s.run([s.PY, s.HERE / "semantic_fixtures.py", out])
        committed = s.FIXTURES / "semantic"
        for path in committed.rglob("*"):
            if path.is_file() and not s.is_golden(path):
                assert (out / path.relative_to(committed)).read_bytes() == path.read_bytes(), f"{path} differs"

    @s.check("semantic: maskconv reads semantic/datumaro_meta as Datumaro reads it, per item and class")
    def _():
        path = s.FIXTURES / "semantic" / "datumaro_meta"
        s.same(labelled(s.classes_only(s.per_item(path))), datumaro_semantic(path, False))
