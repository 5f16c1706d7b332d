#!/usr/bin/env bash
# Creates (or updates) the virtualenv with the reference frameworks that
# `npm run bench:training` compares our trainer against: TensorFlow/Keras and PyTorch,
# pinned in requirements.txt, from PyPI. The venv lives OUTSIDE the repository and is
# not a product dependency.
#
#   bash bench/reference/setup.sh            # idempotent; about 6 GB on disk (torch's CUDA wheels)
#   STORELOOP_BENCH_VENV=/path bash bench/reference/setup.sh
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${STORELOOP_BENCH_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/storeloop/bench-venv}"
python="${PYTHON:-python3}"
stamp="$venv/.storeloop-requirements.sha256"
want="$(sha256sum "$here/requirements.txt" | cut -d' ' -f1)"
if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  echo "bench venv up to date: $venv"
  exit 0
fi
mkdir -p "$(dirname "$venv")"
[[ -x "$venv/bin/python" ]] || "$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet -r "$here/requirements.txt"
"$venv/bin/python" -c 'import numpy, tensorflow, keras, torch; print("numpy", numpy.__version__, "tensorflow", tensorflow.__version__, "keras", keras.__version__, "torch", torch.__version__)'
echo "$want" >"$stamp"
echo "bench venv ready: $venv"
