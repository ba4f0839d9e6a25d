"""The conformance suite: maskconv's output checked by the formats' own software
(Datumaro, segments-ai, scale-nucleus, OpenCV as Datagen's docs read masks,
datagen-tech when it installs, hotcoco's panoptic quality), and files written by
that software read by maskconv. The training formats' checks are in training_checks.py
and coco_checks.py.

    python tests/conformance/suite.py MASKCONV_BINARY [SYNTHETIC_DIR]

Run by tests/conformance/run.sh, which makes the virtual environment with the
pinned versions of requirements.txt and writes the round-trip matrix's
synthetic dataset in every format to SYNTHETIC_DIR. Every check compares per
item: what the format's software reads of maskconv's output against what
maskconv reads of the source (`inspect --per-item`). Prints one line per check
and "N passed, N failed, N skipped"; exits 1 when a check failed.
"""
import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
FIXTURES = HERE.parent.parent / "fixtures"
MASKCONV = os.path.abspath(sys.argv[1])
SYNTHETIC = Path(sys.argv[2]).resolve() if len(sys.argv) > 2 else None
WORK = Path(tempfile.mkdtemp(prefix="maskconv-conformance-"))
PY = sys.executable
TIMEOUT = 600
# The formats maskconv reads and writes, from its own registry.
FORMATS = [f["name"] for f in json.loads(subprocess.run([MASKCONV, "formats", "--json"], capture_output=True,
                                                        text=True, check=True).stdout)
           if f["can_read"] and f["can_write"]]
results = []


def is_golden(path):
    """A sidecar of the golden walker (tests/integration/golden.rs), not an SDK file."""
    return path.name.endswith((".inspect.json", ".err"))


def check(name):
    def wrap(fn):
        try:
            note = fn()
            results.append(("skipped" if note and note.startswith("skipped") else "passed", name, note or ""))
        except Exception as e:  # noqa: BLE001 - every failure is reported, the suite goes on
            detail = f"{type(e).__name__}: {e}" if str(e) else traceback.format_exc(limit=2)
            results.append(("failed", name, detail))
        status, _, note = results[-1]
        print(f"{status:7} {name}{': ' + note if note else ''}", flush=True)
        return fn
    return wrap


def run(args, ok=(0,)):
    out = subprocess.run(list(map(str, args)), capture_output=True, text=True, timeout=TIMEOUT)
    assert out.returncode in ok, f"{' '.join(map(str, args))}: exit {out.returncode}: {(out.stdout + out.stderr)[-800:]}"
    return out.stdout


def convert(source, to, *extra):
    """maskconv's conversion of `source` into `to`, and the keys it skipped."""
    target = WORK / f"{Path(source).name}-{to}-{len(list(WORK.iterdir()))}"
    report = json.loads(run([MASKCONV, "convert", source, target, "--to", to, "-q", "--json", "--keep-going", *extra],
                            ok=(0, 3)))
    return target, {s["key"] for s in report["skipped"]}


def per_item(dataset, *extra):
    """maskconv's reading, per item with a mask: {key: {"size": [w, h], "classes": {name: pixels}}}."""
    report = json.loads(run([MASKCONV, "inspect", dataset, "--json", "--per-item", *extra]))
    items = {i["key"]: {"size": i["size"], "classes": {n: c["pixels"] for n, c in i["classes"].items()}}
             for i in report["per_item"] if i["size"]}
    assert any(i["classes"] for i in items.values()), f"{dataset}: no labelled pixels to compare"
    return items


def classes_only(items):
    return {key: item["classes"] for key, item in items.items()}


def same(theirs, ours, skipped=frozenset(), what="items"):
    """`theirs` (the software's reading of our output) has every item of `ours`
    (maskconv's reading of the source) but the skipped ones, and equal content."""
    expected = {k: v for k, v in ours.items() if k not in skipped}
    assert set(theirs) == set(expected), f"{what}: keys differ: {sorted(set(theirs) ^ set(expected))[:5]}"
    for key in expected:
        assert theirs[key] == expected[key], f"{what} {key}: {theirs[key]} != {expected[key]}"


def datumaro_read(path):
    """What Datumaro imports from a CVAT / Pascal VOC folder (datumaro_dump.py's reading)."""
    sys.path.insert(0, str(HERE))
    import datumaro as dm
    import datumaro_dump
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        result = datumaro_dump.dump(str(path), dm)
    assert "error" not in result, result.get("error")
    return result


def datumaro_items(reading):
    out = {}
    for item in reading["items"]:
        classes = {}
        for mask in item["masks"]:
            if mask["label"] != "background" and mask["pixels"]:
                classes[mask["label"]] = classes.get(mask["label"], 0) + mask["pixels"]
        if classes:
            out[item["id"]] = classes
    return out


def masks_by_item(reading):
    """Per item: the sorted (label, pixels-as-drawn) of every non-background mask."""
    return {
        (item["subset"], item["id"]): sorted(
            (m["label"], m.get("sha1") or "\n".join(m["rows"])) for m in item["masks"] if m["label"] != "background"
        )
        for item in reading["items"]
    }


def sources(*fixtures, synthetic=()):
    """Fixture datasets, then the synthetic dataset in the given formats."""
    found = [FIXTURES / f for f in fixtures]
    if SYNTHETIC:
        found += [SYNTHETIC / f for f in synthetic]
    return found


def name(source):
    return f"synthetic {source.name}" if SYNTHETIC and SYNTHETIC in source.parents else str(source.relative_to(FIXTURES))


# ---------------------------------------------------------------- CVAT / Datumaro

for source in sources("cvat/generated_cvat_export/dataset", "cvat/datumaro_voc_dataset1", "cvat/interlaced_masks",
                      synthetic=["cvat"]):
    @check(f"cvat: Datumaro reads maskconv's CVAT output of {name(source)} as it reads the source, mask for mask")
    def _(source=source):
        out, _ = convert(source, "cvat")
        ours, theirs = datumaro_read(out), datumaro_read(source)
        labels = lambda r: {label["name"] for label in r["labels"]} - {"background"}  # noqa: E731
        assert labels(ours) == labels(theirs), f"labels differ: {labels(ours) ^ labels(theirs)}"
        assert any(masks_by_item(theirs).values()), "the source has masks"
        assert masks_by_item(ours) == masks_by_item(theirs), "the masks Datumaro imports differ"


for source in sources("segments/sdk_release", "nucleus/sdk_annotations", "datagen/three_real_datapoints",
                      synthetic=["datagen", "nucleus", "segments"]):
    @check(f"cvat: Datumaro reads maskconv's CVAT output of {name(source)} with maskconv's pixels per item and class")
    def _(source=source):
        out, skipped = convert(source, "cvat")
        same(datumaro_items(datumaro_read(out)), classes_only(per_item(source)), skipped)


@check("cvat: a voc_segmentation export Datumaro writes (two subsets, overlapping instances) reads in maskconv as in Datumaro")
def _():
    import numpy as np
    import datumaro as dm
    from datumaro.components.annotation import AnnotationType, LabelCategories, Mask
    from datumaro.components.media import Image
    items = []
    for i, subset in enumerate(["train", "train", "val"]):
        h, w = 12, 16
        cat = np.zeros((h, w), np.uint8); cat[1:6, 1:8] = 1
        dog = np.zeros((h, w), np.uint8); dog[4:10, 5:14] = 1  # overlaps the cat
        tree = np.zeros((h, w), np.uint8); tree[:, 14 - i:] = 1
        anns = [Mask(image=cat, label=0, id=1, group=1), Mask(image=dog, label=1, id=2, group=2),
                Mask(image=tree, label=2, id=3, group=3, z_order=1)]
        items.append(dm.DatasetItem(id=f"img_{i}", subset=subset, media=Image.from_numpy(np.zeros((h, w, 3), np.uint8)),
                                    annotations=anns))
    labels = LabelCategories.from_iterable(["cat", "dog", "tree"])
    dataset = dm.Dataset.from_iterable(items, categories={AnnotationType.label: labels})
    out = WORK / "datumaro-export"
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        dataset.export(str(out), "voc_segmentation", save_media=True)
    reading = datumaro_read(out)
    same(classes_only(per_item(out)), datumaro_items(reading))
    report = json.loads(run([MASKCONV, "inspect", out, "--json", "--per-item"]))
    subsets = {i["key"]: i["subset"] for i in report["per_item"]}
    assert subsets == {item["id"]: item["subset"] for item in reading["items"]}, subsets
    instances = {i["key"]: {n: c["instances"] for n, c in i["classes"].items()} for i in report["per_item"]}
    for item in reading["items"]:
        groups = {}
        for m in item["masks"]:
            if m["label"] != "background":
                groups.setdefault(m["label"], set()).add(m["instance_id"])
        assert instances[item["id"]] == {k: len(v) for k, v in groups.items()}, item["id"]


# ---------------------------------------------------------------- Segments.ai

@check("segments: the SDK still writes the committed fixtures byte for byte")
def _():
    out = WORK / "segments-fixtures"
    run([PY, HERE / "segments_sdk_fixtures.py", out])
    run([PY, HERE / "segments_sdk_vector_fixtures.py", out])
    committed = FIXTURES / "segments"
    for path in committed.rglob("*"):
        if path.is_file() and not is_golden(path):
            assert (out / path.relative_to(committed)).read_bytes() == path.read_bytes(), f"{path} differs"


def local_urls(out, prefix):
    """Rewrites `prefix` URLs of a written release to paths (the check reads local files)."""
    for path in [out / "release.json", *(out / "labels").rglob("*.json")]:
        path.write_text(path.read_text().replace(prefix, ""))


for source in sources("segments/sdk_release", "cvat/generated_cvat_export/dataset", "cvat/datumaro_voc_dataset1",
                      "nucleus/sdk_annotations", "datagen/three_real_datapoints", synthetic=FORMATS):
    @check(f"segments: the SDK loads maskconv's Segments.ai output of {name(source)} and decodes its pixels per item and class")
    def _(source=source):
        prefix = "https://example.invalid/x/"
        out, skipped = convert(source, "segments", "--url-prefix", prefix)
        local_urls(out, prefix)
        counts = WORK / f"{out.name}.json"
        run([PY, HERE / "segments_sdk_check.py", out, counts])
        same(json.loads(counts.read_text()), per_item(source), skipped)


def frames_read(out):
    """What segments_sdk_frames_check.py's SDK reading gives of a written release, per item key."""
    counts = WORK / f"{out.name}-frames.json"
    run([PY, HERE / "segments_sdk_frames_check.py", out, counts])
    return json.loads(counts.read_text())


def source_tracks(release):
    """Per frame key of an SDK-built sequence fixture: the track ids of its thing categories."""
    dataset = json.loads((FIXTURES / release / "release.json").read_text())["dataset"]
    name_of = {c["id"]: c["name"] for c in dataset["task_attributes"]["categories"] if c.get("has_instances")}
    tracks = {}
    for sample in dataset["samples"]:
        frames = sample["labels"]["ground-truth"]["attributes"]["frames"]
        for i, frame in enumerate(frames):
            per = {}
            for a in frame["annotations"]:
                if a["category_id"] in name_of and frame.get("segmentation_bitmap"):
                    per.setdefault(name_of[a["category_id"]], []).append(a["track_id"])
            if frame.get("segmentation_bitmap"):
                tracks[f"{os.path.splitext(sample['name'])[0]}/{i:0{len(str(len(frames) - 1))}d}"] = \
                    {k: sorted(v) for k, v in per.items()}
    return tracks


for through in [None, "cvat", "nucleus", "datagen"]:
    @check(f"segments: the SDK's sequence types read maskconv's sequence output of segments/sdk_sequence"
           f"{' through ' + through if through else ''} frame for frame, with the source's pixels"
           f"{' and track ids' if through != 'datagen' else ' (Datagen holds no instances: no track ids)'}")
    def _(through=through):
        source = FIXTURES / "segments/sdk_sequence"
        middle = convert(source, through)[0] if through else source
        out, skipped = convert(middle, "segments")
        assert not skipped, skipped
        read = frames_read(out)
        same({k: {"size": v["size"], "classes": v["classes"]} for k, v in read.items()}, per_item(source))
        if through != "datagen":
            # The source's thing categories (CVAT makes every class a thing).
            expected = source_tracks("segments/sdk_sequence")
            things = {name for tracks in expected.values() for name in tracks}
            ours = {k: {c: t for c, t in v["tracks"].items() if c in things} for k, v in read.items()}
            same(ours, expected, what="tracks")


for fixture in ["segments/sdk_vector", "segments/sdk_vector_sequence"]:
    @check(f"segments: maskconv's bitmaps of the SDK-typed vector labels of {fixture} hold pycocotools' pixels")
    def _(fixture=fixture):
        out, skipped = convert(FIXTURES / fixture, "segments")
        assert not skipped, skipped
        read = frames_read(out)
        expected = json.loads((FIXTURES / "segments/expected_vector.json").read_text())
        for key, ours in read.items():
            theirs = expected[key]
            # The same objects on the same pixels (ids may be renumbered).
            pairs = {(a, b) for ra, rb in zip(ours["ids"], theirs) for a, b in zip(ra, rb)}
            assert len({a for a, _ in pairs}) == len(pairs) == len({b for _, b in pairs}), f"{key}: objects differ"
            assert all((a == 0) == (b == 0) for a, b in pairs), f"{key}: labelled pixels differ"
        assert set(read) <= set(expected) and read, sorted(read)


@check("segments: 1200 random polygons as a vector release convert to bitmaps holding pycocotools' pixels")
def _():
    polygons, release = WORK / "polygons.jsonl", WORK / "polygons-release"
    run([PY, HERE / "polygons.py", polygons, 1400])
    run([PY, HERE / "polygons_release.py", "make", polygons, release])
    out, skipped = convert(release, "segments")
    assert not skipped, skipped
    return run([PY, HERE / "polygons_release.py", "check", polygons, out]).strip().splitlines()[-1]


# ---------------------------------------------------------------- Scale Nucleus

@check("nucleus: the SDK still writes the committed fixtures byte for byte")
def _():
    out = WORK / "nucleus-fixtures"
    run([PY, HERE / "nucleus_sdk_fixtures.py", out])
    committed = FIXTURES / "nucleus"
    for path in committed.rglob("*"):
        if path.is_file() and not is_golden(path):
            assert (out / path.relative_to(committed)).read_bytes() == path.read_bytes(), f"{path} differs"


for source, extra in [(s, ()) for s in sources("nucleus/sdk_annotations", "cvat/generated_cvat_export/dataset",
                                               "segments/sdk_release", "datagen/three_real_datapoints",
                                               synthetic=FORMATS)] + \
                     [(FIXTURES / "cvat/generated_cvat_export/dataset", ("--semantic",))]:
    @check(f"nucleus: maskconv's Nucleus output of {name(source)}{' ' + ' '.join(extra) if extra else ''} is the SDK's to_json() line for line, with the source's pixels")
    def _(source=source, extra=extra):
        out, skipped = convert(source, "nucleus", *extra)
        counts = WORK / f"{out.name}.json"
        run([PY, HERE / "nucleus_sdk_check.py", out, counts])
        same(json.loads(counts.read_text()), per_item(source), skipped)


# ---------------------------------------------------------------- Datagen

@check("datagen: OpenCV, as Datagen's docs read masks, counts the real datapoints as pinned")
def _():
    counts = json.loads(run([PY, HERE / "datagen_counts.py", FIXTURES / "datagen/three_real_datapoints"]))
    assert counts == json.loads((FIXTURES / "datagen/three_real_datapoints_opencv_counts.json").read_text())


def by_key(out, counts):
    """Datagen counts per camera folder, keyed by the item key maskconv wrote
    (`maskconv_item.json` beside a foreign key's mask, else the folder)."""
    keyed = {}
    for folder, classes in counts.items():
        if classes is None:  # a camera without mask
            continue
        marker = out / folder / "maskconv_item.json"
        key = json.loads(marker.read_text())["key"] if marker.exists() else folder
        keyed[key] = classes
    return keyed


def datagen_check(python, source):
    out, skipped = convert(source, "datagen")
    counts = json.loads(run([python, HERE / ("datagen_sdk_counts.py" if python != PY else "datagen_counts.py"), out]))
    same(by_key(out, counts), classes_only(per_item(source)), skipped)


for source in sources("cvat/generated_cvat_export/dataset", "segments/sdk_release", "nucleus/sdk_annotations",
                      "datagen/three_real_datapoints", synthetic=FORMATS):
    @check(f"datagen: OpenCV finds every pixel of maskconv's Datagen output of {name(source)} in its metadata, per item and class")
    def _(source=source):
        datagen_check(PY, source)


def unpacked_download(source):
    """maskconv's Datagen .tar.gz of `source`, unpacked by Python's tarfile (its "data" filter:
    no links, devices or paths outside) as a user unpacks Datagen's download; the dataset folder."""
    import tarfile
    archive = WORK / f"faces-{len(list(WORK.iterdir()))}.tar.gz"
    run([MASKCONV, "convert", source, archive, "--to", "datagen", "-q"])
    target = WORK / f"{archive.name}-unpacked"
    with tarfile.open(archive) as tar:
        members = tar.getmembers()
        assert all(m.isfile() and m.mode == 0o644 and m.mtime == 0 and m.uid == 0 for m in members), "entries"
        tar.extractall(target, filter="data")
    tops = {m.name.split("/")[0] for m in members}
    assert tops == {archive.name[:-len(".tar.gz")]}, f"one top folder named after the archive: {tops}"
    return target / tops.pop()


for source in sources("datagen/three_real_datapoints", "cvat/generated_cvat_export/dataset"):
    @check(f"datagen: maskconv's .tar.gz of {name(source)}, unpacked by Python's tarfile, is one dataset folder OpenCV reads with the source's pixels")
    def _(source=source):
        folder = unpacked_download(source)
        counts = json.loads(run([PY, HERE / "datagen_counts.py", folder]))
        same(by_key(folder, counts), classes_only(per_item(source)))


DATAGEN_PY = os.environ.get("DATAGEN_PYTHON")


@check("datagen: Datagen's own SDK (datagen-tech) loads maskconv's Datagen output with the source's pixels per item and class")
def _():
    if not DATAGEN_PY:
        return "skipped: datagen-tech did not install in this environment (see run.sh)"
    for source in sources("cvat/generated_cvat_export/dataset", "datagen/three_real_datapoints", synthetic=["segments"]):
        datagen_check(DATAGEN_PY, source)


# ---------------------------------------------------------------- training formats

sys.path.insert(0, str(HERE))
import training_checks  # noqa: E402

training_checks.add(sys.modules[__name__])
import coco_checks  # noqa: E402

coco_checks.add(sys.modules[__name__])

shutil.rmtree(WORK, ignore_errors=True)
passed = sum(r[0] == "passed" for r in results)
failed = sum(r[0] == "failed" for r in results)
skipped = sum(r[0] == "skipped" for r in results)
print(f"{passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed else 0)
