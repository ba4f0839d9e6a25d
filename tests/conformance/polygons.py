"""Random polygons rasterised by pycocotools, for maskconv's rasteriser to equal.

    python tests/conformance/polygons.py OUT.jsonl [COUNT [DECIMALS]]

Writes one JSON object per line: `kind`, image `height` and `width`, `rings`
(each a flat [x0, y0, x1, y1, ...] list, as COCO stores polygons) and
`counts`, the compressed RLE string of `pycocotools.mask.merge(
pycocotools.mask.frPyObjects(rings, height, width))`, the rule COCO's own
`annToRLE` applies. The kinds: convex, concave (stars), self-touching
(bowties and rings through one vertex twice), sub-pixel, off-image,
grid-aligned (integer and half-pixel points) and multi-ring (2 to 4 rings of
the other kinds, unioned). Coordinates are rounded to DECIMALS places when
given (the checked-in fixtures/rasterise/pycocotools_polygons.jsonl: 1000
polygons, 3 places). Seeded: the same file every run.
"""
import json
import math
import random
import sys

from pycocotools import mask as cocomask

KINDS = ["convex", "concave", "self-touching", "sub-pixel", "off-image", "grid-aligned", "multi-ring"]


def ring(rng, kind, h, w):
    cx, cy = rng.uniform(0, w), rng.uniform(0, h)
    r = rng.uniform(0.5, max(h, w) / 2)
    n = rng.randint(3, 12)
    if kind == "convex":
        angles = sorted(rng.uniform(0, 2 * math.pi) for _ in range(n))
        pts = [(cx + r * math.cos(a), cy + r * math.sin(a)) for a in angles]
    elif kind == "concave":
        n = max(n, 5)
        pts = [(cx + (r if i % 2 else r * rng.uniform(0.2, 0.6)) * math.cos(2 * math.pi * i / n),
                cy + (r if i % 2 else r * rng.uniform(0.2, 0.6)) * math.sin(2 * math.pi * i / n)) for i in range(n)]
    elif kind == "self-touching":
        if rng.random() < 0.5:  # a bowtie: two edges cross
            pts = [(cx - r, cy - r), (cx + r, cy + r), (cx + r, cy - r), (cx - r, cy + r)]
        else:  # two lobes meeting at one vertex, visited twice
            pts = [(cx, cy), (cx + r, cy - r / 2), (cx + r, cy + r / 2), (cx, cy),
                   (cx - r, cy + r / 2), (cx - r, cy - r / 2)]
    elif kind == "sub-pixel":
        s = rng.uniform(0.05, 0.9)
        pts = [(cx + s * rng.uniform(-1, 1), cy + s * rng.uniform(-1, 1)) for _ in range(n)]
    elif kind == "off-image":
        cx, cy = rng.choice([-1, 1]) * rng.uniform(0, w) + (w if rng.random() < 0.5 else 0), rng.uniform(-h, 2 * h)
        r = rng.uniform(1, 2 * max(h, w))
        angles = sorted(rng.uniform(0, 2 * math.pi) for _ in range(n))
        pts = [(cx + r * math.cos(a), cy + r * math.sin(a)) for a in angles]
    elif kind == "grid-aligned":
        pts = [(round(rng.uniform(-2, w + 2) * 2) / 2, round(rng.uniform(-2, h + 2) * 2) / 2) for _ in range(n)]
    else:
        raise ValueError(kind)
    return [c for p in pts for c in p]


def main():
    out, count = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 1400
    decimals = int(sys.argv[3]) if len(sys.argv) > 3 else None
    rng = random.Random(20261201)
    with open(out, "w") as f:
        for i in range(count):
            kind = KINDS[i % len(KINDS)]
            h, w = rng.randint(1, 120), rng.randint(1, 120)
            if kind == "multi-ring":
                rings = [ring(rng, rng.choice(KINDS[:-1]), h, w) for _ in range(rng.randint(2, 4))]
            else:
                rings = [ring(rng, kind, h, w)]
            if decimals is not None:
                rings = [[round(c, decimals) for c in r] for r in rings]
            rle = cocomask.merge(cocomask.frPyObjects(rings, h, w))
            f.write(json.dumps({"kind": kind, "height": h, "width": w, "rings": rings,
                                "counts": rle["counts"].decode()}) + "\n")


if __name__ == "__main__":
    main()
