"""Polygons for the rasterising benchmark, and pycocotools' speed on them.

    python benches/pycocotools_polygons.py make OUT.jsonl   # 2000 polygons on 1920x1080, 8 to 200 points
    python benches/pycocotools_polygons.py time FILE.jsonl [RUNS]

`make` writes lines in tests/conformance/polygons.py's form (kind, height,
width, rings, counts), the counts by pycocotools, so the harness
(`cargo bench --bench harness -- --polygons FILE`) checks maskconv's RLE
while it times it. `time` prints the median over RUNS of polygons per
second of `pycocotools.mask.merge(frPyObjects(rings, h, w))` (what COCO's
annToRLE does), the same work the harness times.
"""
import json, math, random, statistics, sys, time

from pycocotools import mask as cocomask


def make(out):
    rng = random.Random(7)
    with open(out, "w") as f:
        for i in range(2000):
            h, w = 1080, 1920
            n = rng.randint(8, 200)
            cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(10, 300)
            angles = sorted(rng.uniform(0, 2 * math.pi) for _ in range(n))
            ring = [c for a in angles for c in (cx + r * rng.uniform(0.6, 1) * math.cos(a),
                                                  cy + r * rng.uniform(0.6, 1) * math.sin(a))]
            rle = cocomask.merge(cocomask.frPyObjects([ring], h, w))
            f.write(json.dumps({"kind": "star", "height": h, "width": w, "rings": [ring],
                                "counts": rle["counts"].decode()}) + "\n")


def timed(path, runs):
    cases = [json.loads(line) for line in open(path)]
    rates = []
    for _ in range(runs):
        start = time.perf_counter()
        for c in cases:
            cocomask.merge(cocomask.frPyObjects(c["rings"], c["height"], c["width"]))
        rates.append(len(cases) / (time.perf_counter() - start))
    print(f"pycocotools: {statistics.median(rates):.0f} polygons/s (median of {runs}, {len(cases)} polygons)")


if sys.argv[1] == "make":
    make(sys.argv[2])
else:
    timed(sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 5)
