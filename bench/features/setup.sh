#!/usr/bin/env bash
# Creates (or updates) the virtualenv with the engines that `npm run bench:features` compares
# our feature step against: pandas and DuckDB, pinned with hashes in requirements.txt, from PyPI.
# The venv lives OUTSIDE the repository and is not a product dependency.
#
#   bash bench/features/setup.sh            # idempotent; about 150 MB
#   STORELOOP_FEATURES_VENV=/path bash bench/features/setup.sh
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${STORELOOP_FEATURES_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/storeloop/features-bench-venv}"
python="${PYTHON:-python3}"
stamp="$venv/.storeloop-requirements.sha256"
want="$(sha256sum "$here/requirements.txt" | cut -d' ' -f1)"
if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  echo "features bench venv up to date: $venv"
  exit 0
fi
mkdir -p "$(dirname "$venv")"
[[ -x "$venv/bin/python" ]] || "$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --require-hashes --only-binary :all: -r "$here/requirements.txt"
"$venv/bin/python" -c 'import duckdb, numpy, pandas; print("duckdb", duckdb.__version__, "numpy", numpy.__version__, "pandas", pandas.__version__)'
echo "$want" >"$stamp"
echo "features bench venv ready: $venv"
