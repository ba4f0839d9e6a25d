"""The conformance suite: maskconv's output checked by the formats' own software
(Datumaro, segments-ai, scale-nucleus, OpenCV as Datagen's docs read masks, and
datagen-tech when it installs), and files written by that software read by maskconv.

    python tests/conformance/suite.py MASKCONV_BINARY

Run by tests/conformance/run.sh, which makes the virtual environment with the
pinned versions of requirements.txt. Prints one line per check and
"N passed, N failed, N skipped"; exits 1 when a check failed.
"""
import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
FIXTURES = ROOT / "fixtures"
MASKCONV = os.path.abspath(sys.argv[1])
WORK = Path(tempfile.mkdtemp(prefix="maskconv-conformance-"))
PY = sys.executable
results = []


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


def maskconv(*args):
    out = subprocess.run([MASKCONV, *map(str, args)], capture_output=True, text=True)
    assert out.returncode == 0, f"maskconv {' '.join(map(str, args))}: exit {out.returncode}: {out.stderr.strip()}"
    return out.stdout


def convert(source, to, *extra):
    target = WORK / f"{Path(source).name}-{to}-{len(list(WORK.iterdir()))}"
    maskconv("convert", source, target, "--to", to, "-q", *extra)
    return target


def totals(dataset, *extra):
    """maskconv's per-class pixel totals of a dataset (classes with pixels)."""
    report = json.loads(maskconv("inspect", dataset, "--json", *extra))
    counts = {c["name"]: c["pixels"] for c in report["classes"] if c["pixels"]}
    assert counts, f"{dataset}: no labelled pixels to compare"
    return counts


def script(name, *args):
    out = subprocess.run([PY, str(HERE / name), *map(str, args)], capture_output=True, text=True)
    return out


def datumaro_read(path):
    """What Datumaro imports from a CVAT / Pascal VOC folder (datumaro_dump.py's reading)."""
    sys.path.insert(0, str(HERE))
    import datumaro as dm
    import datumaro_dump
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        result = datumaro_dump.dump(str(path), dm)
    assert "error" not in result, result.get("error")
    return result


def datumaro_totals(reading):
    counts = {}
    for item in reading["items"]:
        for mask in item["masks"]:
            if mask["label"] != "background":
                counts[mask["label"]] = counts.get(mask["label"], 0) + mask["pixels"]
    return {k: v for k, v in counts.items() if v}


def masks_by_item(reading):
    """Per item: the sorted (label, pixels-as-drawn) of every non-background mask."""
    return {
        (item["subset"], item["id"]): sorted(
            (m["label"], m.get("sha1") or "\n".join(m["rows"])) for m in item["masks"] if m["label"] != "background"
        )
        for item in reading["items"]
    }


# ---------------------------------------------------------------- CVAT / Datumaro

for case in ["cvat/generated_cvat_export/dataset", "cvat/datumaro_voc_dataset1", "cvat/interlaced_masks"]:
    @check(f"cvat: Datumaro reads maskconv's CVAT output of {case} as it reads the source")
    def _(case=case):
        source = FIXTURES / case
        ours = datumaro_read(convert(source, "cvat"))
        theirs = datumaro_read(source)
        assert any(masks_by_item(theirs).values()), "the source has masks"
        assert masks_by_item(ours) == masks_by_item(theirs), "the masks Datumaro imports differ"


for case, extra in [("segments/sdk_release", ()), ("nucleus/sdk_annotations", ()), ("datagen/three_real_datapoints", ())]:
    @check(f"cvat: Datumaro reads maskconv's CVAT output of {case} with maskconv's per-class pixels")
    def _(case=case, extra=extra):
        source = FIXTURES / case
        assert datumaro_totals(datumaro_read(convert(source, "cvat", *extra))) == totals(source, *extra)


@check("cvat: a voc_segmentation export Datumaro writes (two subsets, overlapping instances) reads in maskconv as in Datumaro")
def _():
    import numpy as np
    import datumaro as dm
    from datumaro.components.annotation import AnnotationType, LabelCategories, Mask
    from datumaro.components.media import Image
    labels = ["cat", "dog", "tree"]
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
    dataset = dm.Dataset.from_iterable(items, categories={AnnotationType.label: LabelCategories.from_iterable(labels)})
    out = WORK / "datumaro-export"
    with contextlib.redirect_stdout(io.StringIO()):
        dataset.export(str(out), "voc_segmentation", save_media=True)
    assert totals(out) == datumaro_totals(datumaro_read(out))


# ---------------------------------------------------------------- Segments.ai

@check("segments: the SDK still writes the committed fixtures byte for byte")
def _():
    out = WORK / "segments-fixtures"
    run = script("segments_sdk_fixtures.py", out)
    assert run.returncode == 0, run.stderr[-500:]
    committed = FIXTURES / "segments"
    for path in committed.rglob("*"):
        if path.is_file():
            assert (out / path.relative_to(committed)).read_bytes() == path.read_bytes(), f"{path} differs"


for case, extra in [("segments/sdk_release", ()), ("cvat/generated_cvat_export/dataset", ()),
                    ("cvat/datumaro_voc_dataset1", ()), ("nucleus/sdk_annotations", ()),
                    ("datagen/three_real_datapoints", ("--url-prefix", "https://example.invalid/x/"))]:
    @check(f"segments: the SDK loads maskconv's Segments.ai output of {case}{' ' + ' '.join(extra) if extra else ''}")
    def _(case=case, extra=extra):
        out = convert(FIXTURES / case, "segments", *extra)
        if extra:  # the check reads files relative to the release: keep URLs local
            release = (out / "release.json").read_text().replace("https://example.invalid/x/", "")
            (out / "release.json").write_text(release)
            for label in (out / "labels").rglob("*.json"):
                label.write_text(label.read_text().replace("https://example.invalid/x/", ""))
        run = script("segments_sdk_check.py", out)
        assert run.returncode == 0, (run.stdout + run.stderr)[-800:]
        assert totals(out) == totals(FIXTURES / case)


# ---------------------------------------------------------------- Scale Nucleus

@check("nucleus: the SDK still writes the committed fixtures byte for byte")
def _():
    out = WORK / "nucleus-fixtures"
    run = script("nucleus_sdk_fixtures.py", out)
    assert run.returncode == 0, run.stderr[-500:]
    committed = FIXTURES / "nucleus"
    for path in committed.rglob("*"):
        if path.is_file():
            assert (out / path.relative_to(committed)).read_bytes() == path.read_bytes(), f"{path} differs"


for case, extra in [("nucleus/sdk_annotations", ()), ("cvat/generated_cvat_export/dataset", ()),
                    ("cvat/generated_cvat_export/dataset", ("--semantic",)), ("segments/sdk_release", ()),
                    ("datagen/three_real_datapoints", ())]:
    @check(f"nucleus: every line maskconv writes for {case}{' ' + ' '.join(extra) if extra else ''} is the SDK's to_json() of itself")
    def _(case=case, extra=extra):
        out = convert(FIXTURES / case, "nucleus", *extra)
        run = script("nucleus_sdk_check.py", out)
        assert run.returncode == 0, (run.stdout + run.stderr)[-800:]
        assert totals(out) == totals(FIXTURES / case)


# ---------------------------------------------------------------- Datagen

@check("datagen: OpenCV, as Datagen's docs read masks, counts the real datapoints as pinned")
def _():
    run = script("datagen_counts.py", FIXTURES / "datagen/three_real_datapoints")
    assert run.returncode == 0, run.stderr[-500:]
    pinned = json.loads((FIXTURES / "datagen/three_real_datapoints_opencv_counts.json").read_text())
    assert json.loads(run.stdout) == pinned


def per_class(counts):
    out = {}
    for per_camera in counts.values():
        for name, n in (per_camera or {}).items():
            out[name] = out.get(name, 0) + n
    return out


for case in ["cvat/generated_cvat_export/dataset", "segments/sdk_release", "nucleus/sdk_annotations",
             "datagen/three_real_datapoints"]:
    @check(f"datagen: OpenCV finds every pixel of maskconv's Datagen output of {case} in its metadata")
    def _(case=case):
        out = convert(FIXTURES / case, "datagen")
        run = script("datagen_counts.py", out)
        assert run.returncode == 0, run.stderr[-500:]
        assert per_class(json.loads(run.stdout)) == totals(FIXTURES / case)


DATAGEN_PY = os.environ.get("DATAGEN_PYTHON")


@check("datagen: Datagen's own SDK (datagen-tech) loads maskconv's Datagen output with the source's pixels")
def _():
    if not DATAGEN_PY:
        return "skipped: datagen-tech did not install in this environment (see run.sh)"
    for case in ["cvat/generated_cvat_export/dataset", "datagen/three_real_datapoints"]:
        out = convert(FIXTURES / case, "datagen")
        run = subprocess.run([DATAGEN_PY, str(HERE / "datagen_sdk_counts.py"), str(out)], capture_output=True, text=True)
        assert run.returncode == 0, run.stderr[-500:]
        assert per_class(json.loads(run.stdout)) == totals(FIXTURES / case), case


passed = sum(r[0] == "passed" for r in results)
failed = sum(r[0] == "failed" for r in results)
skipped = sum(r[0] == "skipped" for r in results)
print(f"{passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed else 0)
