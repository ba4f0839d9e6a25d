#!/usr/bin/env bash
# The Python package (README "From Python"): builds the wheel from this
# checkout as `pip install .` does (PEP 517, maturin, the `dist` profile),
# installs it into a fresh virtual environment, runs test_package.py against
# it from outside the checkout, and prints the wheel's and binary's sizes.
set -euo pipefail
cd "$(dirname "$0")/../.."
target="${CARGO_TARGET_DIR:-target}"
wheels="$PWD/$target/wheels"
rm -rf "$wheels" && mkdir -p "$wheels"

build="$target/python-build-venv"
[ -x "$build/bin/pip" ] || python3 -m venv "$build"
"$build/bin/pip" install --quiet --disable-pip-version-check "pip>=23"
"$build/bin/pip" wheel --quiet --disable-pip-version-check --no-deps --wheel-dir "$wheels" .

venv="$PWD/$target/python-test-venv"
python3 -m venv --clear "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check "$wheels"/maskconv-*.whl
(cd / && "$venv/bin/python" "$OLDPWD/tests/python/test_package.py")
wheel=$(ls "$wheels"/maskconv-*.whl)
echo "python: $(basename "$wheel"): $(stat -c %s "$wheel") bytes; the binary in it: $(stat -c %s "$venv/bin/maskconv") bytes"
