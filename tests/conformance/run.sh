#!/usr/bin/env bash
# The conformance suite (README "Compatibility"): makes a virtual environment
# with the pinned versions of requirements.txt (plus, in its own environment,
# Datagen's SDK when it installs), builds maskconv, writes the round-trip
# matrix's synthetic dataset in every format, and runs suite.py, which prints
# "N passed, N failed, N skipped" and exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/../.."
target="${CARGO_TARGET_DIR:-target}"

venv="$target/conformance-venv"
if ! "$venv/bin/python" -c 'import sys; assert sys.version_info[:2] == (3, 11)' 2>/dev/null; then
    python3 -m venv --clear "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/conformance/requirements.txt

# datagen-tech 1.10.6 pins old numpy/pandas/pydantic: it gets an environment of
# its own, and its check is skipped (and said so) when it does not install or import.
dg="$target/conformance-datagen-venv"
if { [ -x "$dg/bin/python" ] || python3 -m venv "$dg"; } \
    && timeout 600 "$dg/bin/pip" install --quiet --disable-pip-version-check datagen-tech==1.10.6 packaging \
    && "$dg/bin/python" -c "import datagen.impl" 2>/dev/null; then
    export DATAGEN_PYTHON="$PWD/$dg/bin/python"
else
    echo "datagen-tech 1.10.6 did not install or import here: its check is skipped"
fi

cargo build --release --quiet
synthetic="$target/conformance-synthetic"
rm -rf "$synthetic" && mkdir -p "$synthetic"
MASKCONV_SYNTHETIC="$PWD/$synthetic" cargo test --release --quiet --test integration -- \
    --ignored --exact matrix::write_the_synthetic_dataset_for_the_conformance_suite >/dev/null
# The polygon rasteriser against pycocotools, on polygons generated afresh at full precision.
"$venv/bin/python" tests/conformance/polygons.py "$target/conformance-polygons.jsonl" 1400
MASKCONV_POLYGONS="$PWD/$target/conformance-polygons.jsonl" cargo test --release --quiet --test integration -- \
    --ignored --exact --nocapture rasterise::fresh_polygons_rasterise_to_the_rle_pycocotools_gives 2>&1 \
    | grep -E "polygons equal|panicked|FAILED|error" || { echo "the polygon check did not run"; exit 1; }
"$venv/bin/python" tests/conformance/suite.py "$target/release/maskconv" "$synthetic"

