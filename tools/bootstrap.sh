#!/usr/bin/env bash
# One command from a fresh clone: make .venv, install asym-reid with everything, then run
#   bash tools/bootstrap.sh test    # the whole test suite (what CI runs)
#   bash tools/bootstrap.sh demo    # the showcase on the embedded synthetic world
#   bash tools/bootstrap.sh         # only set up
# A Python that already has torch keeps it: set ASYM_PYTHON=/path/to/python to install into
# that environment instead of .venv (torch/torchvision are then left as they are).
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-setup}

if [ -n "${ASYM_PYTHON:-}" ]; then
    PY=$ASYM_PYTHON
else
    [ -x .venv/bin/python ] || python3 -m venv .venv
    PY=.venv/bin/python
fi
if ! "$PY" -c 'import torch, torchvision' 2>/dev/null; then
    # The pair this project tests (pip takes it from the local wheel store where there is one).
    "$PY" -m pip install -q --upgrade pip
    "$PY" -m pip install -q torch==2.14.1 torchvision==0.29.1
fi
"$PY" -m pip install -q -e ".[all]"

case "$what" in
    test) exec "$PY" -m pytest -q ;;
    demo) exec "$PY" tools/showcase.py ;;
    setup) echo "asym-reid installed into $("$PY" -c 'import sys; print(sys.prefix)')" ;;
    *) echo "usage: bash tools/bootstrap.sh [setup|test|demo]" >&2; exit 2 ;;
esac
