#!/usr/bin/env bash
# Create .venv and install adam-conformance with every backend it can drive.
# TORCH_SPEC picks the torch requirement (CI pins the CPU wheel: TORCH_SPEC=torch==2.13.0).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q "${TORCH_SPEC:-torch}"
# HYPOTHESIS_SPEC pins the case stream, so a run matches the committed baseline (reports/baseline.toml [meta]
# records the version it was made with); the package itself accepts any hypothesis 6.x.
.venv/bin/python -m pip install -q "${HYPOTHESIS_SPEC:-hypothesis==6.170.15}" -e '.[jax,mindspore,test]'
.venv/bin/python -m pip install -q -e '.[torch]'
echo "installed: $(.venv/bin/python -c 'import torch, jax, optax, mindspore; print("torch", torch.__version__, "jax", jax.__version__, "optax", optax.__version__, "mindspore", mindspore.__version__)')"
