# Sourced by examples/run and tests/run: everything they need, from nothing, reusing what exists.
#
#   1. a Python virtual environment with .ci/requirements.txt (torch 2.11.0 is ~4 GB), kept
#      under $SIMPLE_TORCH_CACHE (default ~/.cache/simple-torch), keyed by the requirements;
#   2. the wheel, built by maturin (cargo's build cache is kept there too, keyed the same way);
#   3. the wheel installed into that environment, as a user would install it.
#
# Each step says what it does; a step with nothing to do is quick.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${SIMPLE_TORCH_CACHE:-$HOME/.cache/simple-torch}
PYTHON=${PYTHON:-python3}

step() { printf '\n==> %s\n' "$*"; }

for tool in "$PYTHON" cargo; do
    command -v "$tool" >/dev/null || { echo "error: $tool is required but not on PATH" >&2; exit 1; }
done

key=$( (cat "$ROOT/.ci/requirements.txt"; "$PYTHON" --version) | sha256sum | cut -c1-12)
VENV=$CACHE/venv-$key
if [ -f "$VENV/.complete" ]; then
    step "Python environment: reusing $VENV"
else
    step "Python environment: creating $VENV (downloads torch 2.11.0, about 4 GB, once)"
    rm -rf "$VENV"
    mkdir -p "$CACHE"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    "$VENV/bin/python" -m pip install --quiet -r "$ROOT/.ci/requirements.txt"
    touch "$VENV/.complete"
fi

export VIRTUAL_ENV=$VENV PATH=$VENV/bin:$PATH
# tch builds against the libtorch of the torch wheel in that environment.
export LIBTORCH_USE_PYTORCH=1
# One build cache per environment: torch-sys remembers where libtorch was when it first ran.
export CARGO_TARGET_DIR=$CACHE/target-$key

step "Type stubs for the surface made from schemas: python -m simple_torch._stubs"
(cd "$ROOT" && PYTHONPATH=python python -m simple_torch._stubs python/simple_torch)

step "Building the wheel: maturin build --release (cargo build cache: $CARGO_TARGET_DIR)"
WHEELS=$CACHE/wheels
rm -rf "$WHEELS"
(cd "$ROOT" && maturin build --release --quiet --out "$WHEELS")
WHEEL=$(ls "$WHEELS"/simple_torch-*.whl)

step "Installing $(basename "$WHEEL") into the environment"
python -m pip install --quiet --force-reinstall --no-deps "$WHEEL"
# The tests and examples use the installed package, never python/ or a build tree.
unset SIMPLE_TORCH_LIB
