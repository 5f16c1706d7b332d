#!/usr/bin/env bash
# Trains the pipeline's default recommender (RecommenderHyperparameters.parse({})) on an
# NVIDIA GPU with @tensorflow/tfjs-node-gpu and prints samples/s: one prepared script for a
# machine with a GPU (for example the H200 a session may be lent).
#
#   bash bench/gpu/device-run.sh            # from the repository root
#
# Env: STEPS (300), WARMUP (20: the first steps include CUDA's PTX JIT, see below),
#      STORELOOP_BENCH_DATA (../shared/datasets/amazon-beauty/sequences.txt),
#      STORELOOP_CUDA11_DIR (${XDG_CACHE_HOME:-~/.cache}/storeloop/cuda11), OUT (where logs go).
#
# What it installs, from the npm registry, Maven Central and PyPI only:
#   1. node_modules (npm ci) if missing;
#   2. @tensorflow/tfjs-node-gpu built against TensorFlow 2.10.1's GPU C library
#      (infra/native-tf/install.sh --gpu: Maven org.tensorflow:tensorflow-core-api:0.5.0,
#      classifier linux-x86_64-gpu, 487 MB; headers from the tensorflow-cpu 2.10.1 wheel);
#   3. the CUDA 11 / cuDNN 8 user-space libraries TF 2.10.1 dlopens, from PyPI's nvidia-*-cu11
#      wheels (about 1.5 GB), put on LD_LIBRARY_PATH. The NVIDIA driver (libcuda.so.1) must
#      already be on the machine.
# A machine that reaches none of these registries needs them staged beforehand: the cache
# of infra/native-tf/install.sh (${XDG_CACHE_HOME:-~/.cache}/storeloop/native-tf) and
# $STORELOOP_CUDA11_DIR, filled by running this script once where the registries are
# reachable (steps 1-3 are skipped when their results are present).
#
# TF 2.10.1 ships sm_80 PTX, no sm_90 code: on Hopper (H100/H200) CUDA JIT-compiles every
# kernel on first use, which can take minutes; CUDA_CACHE_MAXSIZE keeps the result, and the
# warm-up steps absorb it. nvidia-smi is sampled every second during the run (gpu-util.csv)
# to show the GPU was really used; the bench also prints the backend each child selected.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
STEPS="${STEPS:-300}"
WARMUP="${WARMUP:-20}"
DATA="${STORELOOP_BENCH_DATA:-../shared/datasets/amazon-beauty/sequences.txt}"
CUDA_DIR="${STORELOOP_CUDA11_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/storeloop/cuda11}"
LOGS="${OUT:-${TMPDIR:-/tmp}/storeloop-gpu-bench}"
mkdir -p "$LOGS"
say() { echo "[device-run] $*" >&2; }

say "GPU:"; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || say "nvidia-smi failed (no NVIDIA driver?)"
[[ -f "$DATA" ]] || { say "data file $DATA not found (set STORELOOP_BENCH_DATA)"; exit 2; }

# 1. node dependencies
if [[ ! -d node_modules/@tensorflow/tfjs || ! -x node_modules/.bin/tsx ]]; then
  say "npm ci"; npm ci --no-audit --no-fund
fi

# 2. tfjs-node-gpu (idempotent: exits at once when it already loads)
say "native GPU addon"; bash infra/native-tf/install.sh --gpu

# 3. CUDA 11.x runtime + cuDNN 8 from PyPI (TF 2.10.1 was built for CUDA 11.2 / cuDNN 8.1;
#    later 11.x / 8.x minor versions are compatible)
CUDA_WHEELS=(
  nvidia-cuda-runtime-cu11==11.8.89   # libcudart.so.11.0
  nvidia-cublas-cu11==11.11.3.6       # libcublas.so.11, libcublasLt.so.11
  nvidia-cufft-cu11==10.9.0.58        # libcufft.so.10
  nvidia-curand-cu11==10.3.0.86       # libcurand.so.10
  nvidia-cusolver-cu11==11.4.1.48     # libcusolver.so.11
  nvidia-cusparse-cu11==11.7.5.86     # libcusparse.so.11
  nvidia-cudnn-cu11==8.9.6.50         # libcudnn.so.8
)
if [[ ! -f "$CUDA_DIR/.complete" ]]; then
  say "CUDA 11 / cuDNN 8 wheels -> $CUDA_DIR"
  python3 -m pip install --quiet --no-deps --target "$CUDA_DIR" "${CUDA_WHEELS[@]}"
  touch "$CUDA_DIR/.complete"
fi
libdirs="$(find "$CUDA_DIR/nvidia" -mindepth 2 -maxdepth 2 -type d -name lib | sort | tr '\n' ':')"
export LD_LIBRARY_PATH="${libdirs}${LD_LIBRARY_PATH:-}"
export CUDA_CACHE_MAXSIZE=4294967296
export TF_FORCE_GPU_ALLOW_GROWTH=true
export TF_CPP_MIN_LOG_LEVEL=0   # TF logs "Created device ... GPU:0" (kept in the child's stderr log)

# Does TF see the GPU? (prints the device line or the dlopen failures)
node -e "require('@tensorflow/tfjs-node-gpu'); const tf=require('@tensorflow/tfjs'); tf.matMul(tf.ones([256,256]),tf.ones([256,256])).dataSync(); console.log('tfjs', tf.version_core, tf.getBackend())" \
  2>&1 | grep -E "Created device|Could not load|GPU|tfjs " | head -20 | tee "$LOGS/tf-devices.log" >&2 || true

# 4. the benchmark: ours on tensorflow-gpu (and native CPU for comparison); the references
#    are CPU-only here, so they are skipped.
nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv -l 1 >"$LOGS/gpu-util.csv" 2>/dev/null &
smi=$!
trap 'kill "$smi" 2>/dev/null || true' EXIT
npx tsx bench/training.ts --json --backends tensorflow-gpu,tensorflow --no-reference \
  --steps "$STEPS" --warmup "$WARMUP" --max-load 1000 --max-wait 0 --data "$DATA" | tee "$LOGS/bench.out"
say "GPU utilisation samples: $(wc -l <"$LOGS/gpu-util.csv"), max util: $(cut -d, -f2 "$LOGS/gpu-util.csv" | tr -dc '0-9\n' | sort -n | tail -1)%"
