#!/usr/bin/env bash
# One command from a fresh clone: make .venv, install asym-reid with everything, then run
#   bash tools/bootstrap.sh test    # the whole test suite, random order, 2 workers (what CI runs)
#   bash tools/bootstrap.sh demo    # the showcase on the embedded synthetic world
#   bash tools/bootstrap.sh         # only set up
# A Python that already has torch keeps it: set ASYM_PYTHON=/path/to/python to install into
# that environment instead of .venv (torch/torchvision are then left as they are).
# ASYM_TORCH=cpu installs the CPU-only build of the same torch pair from PyTorch's CPU wheel
# index (under 1 GB instead of ~5.5 GB; needs download.pytorch.org to be reachable). The
# default is the build CI tests: the one PyPI serves (CUDA, runs on CPU too).
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-setup}

if [ -n "${ASYM_PYTHON:-}" ]; then
    PY=$ASYM_PYTHON
else
    [ -x .venv/bin/python ] || python3 -m venv .venv
    PY=.venv/bin/python
fi
say() { printf '\n[bootstrap] %s\n' "$*"; }
PIP=("$PY" -m pip install --progress-bar on)
# pip's own message for a full disk is a bare "OSError: [Errno 28]" after minutes of downloads;
# say up front what is needed and where (the CUDA torch build alone is ~5.5 GB)
need_gb=1
"$PY" -c 'import torch, torchvision' 2>/dev/null || need_gb=8
[ "${ASYM_TORCH:-default}" = cpu ] && need_gb=3
prefix=$("$PY" -c 'import sys; print(sys.prefix)')   # where the packages go
free_kb=$(df -Pk "$prefix" | awk 'NR==2 {print $4}')
if [ -n "$free_kb" ] && [ "$free_kb" -lt $(( need_gb * 1024 * 1024 )) ]; then
    echo "[bootstrap] only $(( free_kb / 1024 )) MB free where the environment lives" \
         "($prefix); installing needs about ${need_gb} GB." \
         "Free some space (old clones, pip cache: $PY -m pip cache purge) or set" \
         "ASYM_PYTHON to a Python elsewhere." >&2
    exit 1
fi
say "Python: $("$PY" -c 'import sys; print(sys.executable, sys.version.split()[0])')"
if ! "$PY" -c 'import torch, torchvision' 2>/dev/null; then
    # The pair this project tests (pip takes it from the local wheel store where there is one).
    "${PIP[@]}" -q --upgrade pip
    case "${ASYM_TORCH:-default}" in
        cpu) say "installing torch 2.14.1 + torchvision 0.29.1, CPU-only build (under 1 GB)" \
                 "from https://download.pytorch.org/whl/cpu"
             "${PIP[@]}" torch==2.14.1 torchvision==0.29.1 \
                 --index-url https://download.pytorch.org/whl/cpu || {
                 echo "[bootstrap] the CPU wheel index is not reachable from here;" \
                      "unset ASYM_TORCH to install PyPI's build" >&2; exit 1; } ;;
        default) say "installing torch 2.14.1 + torchvision 0.29.1 as PyPI serves them:" \
                     "the CUDA build, about 5.5 GB in the environment (3.2 GB of it nvidia-*" \
                     "and triton), runs on CPU too. ASYM_TORCH=cpu takes the CPU-only build."
                 "${PIP[@]}" torch==2.14.1 torchvision==0.29.1 ;;
        *) echo "[bootstrap] ASYM_TORCH must be 'cpu' or unset, not '$ASYM_TORCH'" >&2; exit 2 ;;
    esac
else
    say "keeping the torch already installed: $("$PY" -c 'import torch; print(torch.__version__)')"
fi
say "installing asym-reid (editable) with all extras: mmengine, mmcv-lite, torchreid," \
    "transformers + the MiniLM text encoder, faiss-cpu, numba, onnxruntime, test tools (~1 GB)"
"${PIP[@]}" -e ".[all]"
say "installed into $prefix ($(du -sh "$prefix" 2>/dev/null | cut -f1) on disk)"

case "$what" in
    test) say "lint: ruff check (ruff.toml)"
          "$PY" -m ruff check .
          # yapf (imported by mmengine.config) writes its grammar pickles on first import; two
          # xdist workers doing that at once can read a half-written file (EOFError seen in a
          # fresh environment), so one import happens here first
          "$PY" -c 'import mmengine.config'
          exec "$PY" -m pytest -q -n 2 -p randomly ;;  # random order, 2 workers
    demo) exec "$PY" tools/showcase.py ;;
    setup) say "done; next: bash tools/bootstrap.sh demo (or test)" ;;
    *) echo "usage: bash tools/bootstrap.sh [setup|test|demo]" >&2; exit 2 ;;
esac
