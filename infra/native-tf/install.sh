#!/usr/bin/env bash
# Make the native TensorFlow backend (@tensorflow/tfjs-node, or -gpu) work on a
# machine that reaches only package registries.
#
# tfjs-node's own install script downloads libtensorflow from a Google bucket,
# which is unreachable here. Instead we:
#   1. fetch libtensorflow (C API) from Maven Central with mvn:
#        org.tensorflow:tensorflow-core-api:0.5.0:jar:linux-x86_64[-gpu]
#      (TensorFlow 2.10.1: libtensorflow_cc.so.2 + libtensorflow_framework.so.2)
#   2. fetch the matching C headers from the tensorflow-cpu==2.10.1 wheel (pip)
#   3. assemble libtensorflow-<variant>.tar.gz with the lib/ + include/ layout
#      of the official libtensorflow tarball (cached, so later runs are offline)
#   4. serve it on 127.0.0.1 and run the package's own install script
#      (`npm rebuild`) with TFJS_NODE_BASE_URI pointing at it, building the
#      N-API addon from source with node-gyp
#   5. cache the built addon; later runs just unpack + copy (no compile).
#
# Usage (from the project root, after `npm ci`):
#   bash infra/native-tf/install.sh            # CPU (@tensorflow/tfjs-node)
#   bash infra/native-tf/install.sh --gpu      # @tensorflow/tfjs-node-gpu
#   options: --force (rebuild even if it loads), --no-addon-cache
# Env: STORELOOP_TF_VARIANT=cpu|gpu, XDG_CACHE_HOME, TFJS_NODE_VERSION.
set -euo pipefail

VARIANT="${STORELOOP_TF_VARIANT:-cpu}"
FORCE=0
ADDON_CACHE=1
for arg in "$@"; do
  case "$arg" in
    --gpu) VARIANT=gpu ;;
    --cpu) VARIANT=cpu ;;
    --force) FORCE=1 ;;
    --no-addon-cache) ADDON_CACHE=0 ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    *) echo "unknown option: $arg" >&2; exit 2 ;;
  esac
done

TFJS_NODE_VERSION="${TFJS_NODE_VERSION:-4.22.0}"
TF_JAVA_VERSION=0.5.0        # tensorflow-java release that bundles TF 2.10.1
TF_VERSION=2.10.1            # TF inside that jar; headers come from the same version
# sha256 of what we download (checked after download)
WHEEL_SHA256=0d30c8199b542b7144d7fffa5ee9bd9e539657b15c60a61b7a0ad44a8d1379d2
case "$VARIANT" in
  cpu) PKG=@tensorflow/tfjs-node;     CLASSIFIER=linux-x86_64
       JAR_SHA256=f394c5be26c8f3b644cdc77e6741b2cfe774caa8aedeb969c50e074444feac55 ;;
  gpu) PKG=@tensorflow/tfjs-node-gpu; CLASSIFIER=linux-x86_64-gpu
       JAR_SHA256=06298a31706ef94fc6509c490eefb281b756556a02808b222109c33707a72a6f ;;
  *) echo "STORELOOP_TF_VARIANT must be cpu or gpu" >&2; exit 2 ;;
esac

log() { echo "[native-tf] $*" >&2; }
die() { echo "[native-tf] ERROR: $*" >&2; exit 1; }

[ "$(uname -s)" = Linux ] && [ "$(uname -m)" = x86_64 ] \
  || die "only linux x86_64 is supported (got $(uname -s) $(uname -m))"
[ -f package.json ] || die "run from the project root (no package.json in $PWD)"
ROOT="$PWD"
PKG_DIR="$ROOT/node_modules/$PKG"

loads() {
  (cd "$ROOT" && node -e "require('$PKG')" ) >/dev/null 2>&1
}

if [ "$FORCE" = 0 ] && [ -d "$PKG_DIR" ] && loads; then
  log "$PKG already loads; nothing to do"
  exit 0
fi

START=$(date +%s)
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/storeloop/native-tf"
mkdir -p "$CACHE"
TARBALL="$CACHE/libtensorflow-$TF_VERSION-$VARIANT-linux-x86_64.tar.gz"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/native-tf.XXXXXX")"
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# ---------------------------------------------------------------- 1-3 tarball
check_sha() {
  local got
  got="$(sha256sum "$1" | cut -d' ' -f1)"
  [ "$got" = "$2" ] || die "sha256 mismatch for $(basename "$1"): got $got, want $2"
}
build_tarball() {
  command -v mvn >/dev/null || die "mvn is needed to fetch libtensorflow from Maven Central"
  command -v unzip >/dev/null || die "unzip is needed (apt-get install unzip)"
  local pip=(python3 -m pip)
  "${pip[@]}" --version >/dev/null 2>&1 || die "python3 -m pip is needed to fetch the TF headers"

  local m2="$CACHE/m2"   # private local repo: plugins stay cached, the big jar is dropped below
  local gav="org.tensorflow:tensorflow-core-api:$TF_JAVA_VERSION:jar:$CLASSIFIER"
  log "fetching $gav with mvn"
  (cd "$WORK" && mvn -B -q -Dstyle.color=never -Dmaven.repo.local="$m2" \
      org.apache.maven.plugins:maven-dependency-plugin:3.6.1:get \
      -Dartifact="$gav" -Dtransitive=false) >"$WORK/mvn.log" 2>&1 \
    || { cat "$WORK/mvn.log" >&2; die "mvn could not fetch $gav"; }
  local jar="$m2/org/tensorflow/tensorflow-core-api/$TF_JAVA_VERSION/tensorflow-core-api-$TF_JAVA_VERSION-$CLASSIFIER.jar"
  [ -f "$jar" ] || die "jar not found at $jar"
  check_sha "$jar" "$JAR_SHA256"

  log "fetching C headers from tensorflow-cpu==$TF_VERSION (wheel, pip)"
  "${pip[@]}" download --no-deps --only-binary=:all: --python-version 3.10 \
      --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
      -d "$WORK/wheel" "tensorflow-cpu==$TF_VERSION" >"$WORK/pip.log" 2>&1 \
    || { cat "$WORK/pip.log" >&2; die "pip download of tensorflow-cpu==$TF_VERSION failed"; }
  local whl
  whl="$(ls "$WORK"/wheel/tensorflow_cpu-"$TF_VERSION"-*.whl)"
  check_sha "$whl" "$WHEEL_SHA256"

  local stage="$WORK/stage"
  mkdir -p "$stage/lib" "$stage/include"
  local sodir=org/tensorflow/internal/c_api/$CLASSIFIER
  (cd "$WORK" && unzip -q -o "$jar" "$sodir/*")
  mv "$WORK/$sodir/libtensorflow_cc.so.2" "$WORK/$sodir/libtensorflow_framework.so.2" "$stage/lib/"
  [ -f "$WORK/$sodir/LICENSE" ] && mv "$WORK/$sodir/LICENSE" "$stage/LICENSE"
  [ -f "$WORK/$sodir/THIRD_PARTY_TF_JNI_LICENSES" ] && mv "$WORK/$sodir/THIRD_PARTY_TF_JNI_LICENSES" "$stage/"
  # libtensorflow_cc.so.2 exports the whole C API (TF_*, TFE_*). The binding
  # links -ltensorflow; the linker then records its SONAME (libtensorflow_cc.so.2),
  # which the addon's rpath ($ORIGIN/../../deps/lib) finds at run time.
  # tfjs-node's install script checks for libtensorflow.so.2.9.1 by name.
  (cd "$stage/lib" &&
    ln -s libtensorflow_cc.so.2 libtensorflow.so &&
    ln -s libtensorflow_cc.so.2 libtensorflow.so.2 &&
    ln -s libtensorflow_cc.so.2 libtensorflow.so.2.9.1 &&
    ln -s libtensorflow_framework.so.2 libtensorflow_framework.so &&
    ln -s libtensorflow_framework.so.2 libtensorflow_framework.so.2.9.1)
  (cd "$WORK" && unzip -q -o "$whl" 'tensorflow/include/tensorflow/c/*' \
      'tensorflow/include/tensorflow/core/platform/ctstring*')
  mv "$WORK/tensorflow/include/tensorflow" "$stage/include/"
  [ -f "$stage/include/tensorflow/c/c_api.h" ] && [ -f "$stage/include/tensorflow/c/eager/c_api.h" ] \
    || die "headers missing from the wheel"
  printf 'TensorFlow %s C library\nlib/: %s (Maven Central)\ninclude/: tensorflow-cpu==%s wheel (PyPI)\n' \
    "$TF_VERSION" "$gav" "$TF_VERSION" >"$stage/PROVENANCE.txt"

  log "assembling $(basename "$TARBALL")"
  tar -C "$stage" -cf - . | gzip -1 >"$TARBALL.part"
  mv "$TARBALL.part" "$TARBALL"
  # the raw jar/wheel are no longer needed: the tarball is the cache
  rm -rf "$m2/org/tensorflow"
}

if [ -s "$TARBALL" ] && gzip -t "$TARBALL" 2>/dev/null; then
  log "using cached $TARBALL"
else
  build_tarball
fi

# ------------------------------------------------------- package present?
if [ ! -f "$PKG_DIR/package.json" ]; then
  log "installing $PKG@$TFJS_NODE_VERSION (scripts off; we build it below)"
  npm install --no-save --no-audit --no-fund --prefer-offline --ignore-scripts "$PKG@$TFJS_NODE_VERSION" >&2
fi
[ -f "$PKG_DIR/scripts/install.js" ] || die "$PKG_DIR/scripts/install.js not found"
PKG_VERSION="$(node -p "require('$PKG_DIR/package.json').version")"
NAPI="$(node -p 'process.versions.napi')"
ADDON_KEY="$VARIANT-tfjs$PKG_VERSION-tf$TF_VERSION-napi$NAPI-$(sha256sum "$TARBALL" | cut -c1-12)"
ADDON_DIR="$CACHE/addon/$ADDON_KEY"

rm -rf "$PKG_DIR/deps" "$PKG_DIR/lib" "$PKG_DIR/build" "$PKG_DIR/scripts/custom-binary.json"

# ------------------------------------------- fast path: cached, prebuilt addon
if [ "$ADDON_CACHE" = 1 ] && [ -f "$ADDON_DIR/relpath" ]; then
  log "using cached addon $ADDON_KEY"
  mkdir -p "$PKG_DIR/deps"
  tar -xzf "$TARBALL" -C "$PKG_DIR/deps"
  rel="$(cat "$ADDON_DIR/relpath")"
  mkdir -p "$PKG_DIR/$(dirname "$rel")"
  cp "$ADDON_DIR/tfjs_binding.node" "$PKG_DIR/$rel"
  if loads; then
    log "done in $(( $(date +%s) - START ))s (cached addon)"
    exit 0
  fi
  log "cached addon does not load; rebuilding"
  rm -rf "$PKG_DIR/deps" "$PKG_DIR/lib" "$ADDON_DIR"
fi

# ------------------------------------- 4. serve on loopback + official install
PORT_FILE="$WORK/port"
node -e '
  const http = require("http"), fs = require("fs");
  const file = process.argv[1], portFile = process.argv[2];
  const size = fs.statSync(file).size;
  const srv = http.createServer((req, res) => {
    if (!req.url.endsWith(".tar.gz")) { res.writeHead(404); return res.end(); }
    res.writeHead(200, {"content-type": "application/gzip", "content-length": size});
    fs.createReadStream(file).pipe(res);
  });
  srv.listen(0, "127.0.0.1", () => fs.writeFileSync(portFile, String(srv.address().port)));
  setTimeout(() => process.exit(0), 30 * 60 * 1000).unref();
' "$TARBALL" "$PORT_FILE" &
SERVER_PID=$!
for _ in $(seq 1 100); do [ -s "$PORT_FILE" ] && break; sleep 0.1; done
[ -s "$PORT_FILE" ] || die "loopback server did not start"
BASE_URI="http://127.0.0.1:$(cat "$PORT_FILE")/libtensorflow-"
log "serving the tarball at ${BASE_URI}*.tar.gz"

# node-gyp must not fetch node headers from the internet: use the local ones.
NODE_PREFIX="$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")"
if [ -z "${npm_config_nodedir:-}" ] && [ -f "$NODE_PREFIX/include/node/node_api.h" ]; then
  export npm_config_nodedir="$NODE_PREFIX"
elif [ -z "${npm_config_nodedir:-}" ] && [ -z "$(npm config get nodedir 2>/dev/null | grep -v '^undefined$')" ]; then
  log "warning: no local node headers found; node-gyp may try to download them"
fi

log "building the addon (node-gyp; ~1-2 min)"
TFJS_NODE_BASE_URI="$BASE_URI" \
npm_config_build_from_source="$PKG" \
  npm rebuild --ignore-scripts=false --foreground-scripts "$PKG" >"$WORK/rebuild.log" 2>&1 \
  || { tail -40 "$WORK/rebuild.log" >&2; die "npm rebuild $PKG failed"; }
kill "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""

if ! loads; then
  tail -40 "$WORK/rebuild.log" >&2
  (cd "$ROOT" && node -e "require('$PKG')") || true
  die "$PKG still does not load"
fi

# ------------------------------------------------------------ 5. cache addon
built="$(cd "$PKG_DIR" && find lib -name tfjs_binding.node | head -1)"
if [ -n "$built" ]; then
  mkdir -p "$ADDON_DIR"
  cp "$PKG_DIR/$built" "$ADDON_DIR/tfjs_binding.node"
  echo "$built" >"$ADDON_DIR/relpath"
fi
log "done in $(( $(date +%s) - START ))s: $PKG loads, TensorFlow $(cd "$ROOT" && node -e "process.stdout.write(require('$PKG').backend().binding.TF_Version)" 2>/dev/null)"
