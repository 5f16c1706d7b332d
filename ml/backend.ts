/**
 * Chooses the TensorFlow.js backend once per process, fastest first:
 * tfjs-node-gpu (CUDA) > tfjs-node (native CPU) > wasm > cpu (pure JavaScript).
 * A backend is only taken if it loads and has every kernel our models train with, so a
 * machine without libtensorflow (the optional native packages failed to install) still
 * trains, just slower. The choice is logged and written into every model manifest.
 */
import { execFileSync } from 'node:child_process';
import * as tf from '@tensorflow/tfjs';
import type { Logger } from 'pino';

export type BackendName = 'tensorflow-gpu' | 'tensorflow' | 'wasm' | 'cpu';

export interface BackendInfo {
  name: BackendName;
  /** The tfjs backend id as tf.getBackend() reports it. */
  tfBackend: string;
  version: string;
  /** Why faster candidates were skipped, for the log and the manifest. */
  skipped: string[];
}

/** Kernels whose absence makes a backend unusable for training our models. */
export const REQUIRED_KERNELS = ['UnsortedSegmentSum', 'GatherV2', 'BatchMatMul', 'Softmax'];

let selected: BackendInfo | undefined;

export function gpuCount(): number {
  try {
    return execFileSync('nvidia-smi', ['-L'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim().split('\n').filter(Boolean).length;
  } catch {
    return 0;
  }
}

function missingKernels(backend: string): string[] {
  return REQUIRED_KERNELS.filter((k) => tf.getKernel(k, backend) === undefined);
}

async function tryNative(pkg: string): Promise<void> {
  // TensorFlow's default CPU allocator returns every large buffer to the OS, so each
  // [targets, items] tensor of a full-softmax step is page-faulted in afresh: a 42 MB
  // elementwise op took 145 ms instead of 19 ms here. The BFC allocator keeps and reuses
  // them. Read by libtensorflow when it creates its first allocator, so set before loading.
  process.env.TF_CPU_ALLOCATOR_USE_BFC ??= 'true';
  // Loading registers the 'tensorflow' backend with the shared tfjs-core instance.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  require(pkg);
  if (!(await tf.setBackend('tensorflow'))) throw new Error('backend did not initialise');
  elideNoOpKernels('tensorflow');
}

/** A shape with its one -1 (if any) resolved against `size` elements. */
function resolveShape(shape: number[], size: number): number[] {
  const known = shape.reduce((n, dim) => (dim === -1 ? n : n * dim), 1);
  return shape.map((dim) => (dim === -1 ? size / known : dim));
}

/**
 * tfjs-core's gradients reshape and cast every result to its input's shape and type, most
 * often to what it already is; tfjs-node runs each of those as a TensorFlow op (tens of
 * microseconds, ~40% of a SASRec step's kernels). A reshape to the same shape or a cast to
 * the same type is handed back as the same data, as tfjs's Identity kernel does.
 */
function elideNoOpKernels(backendName: string): void {
  const isNoOp: Record<string, (x: tf.TensorInfo, attrs: tf.NamedAttrMap) => boolean> = {
    Reshape: (x, attrs) => {
      const shape = resolveShape(attrs.shape as number[], tf.util.sizeFromShape(x.shape));
      return shape.length === x.shape.length && shape.every((dim, i) => dim === x.shape[i]);
    },
    Cast: (x, attrs) => attrs.dtype === x.dtype,
  };
  for (const [kernelName, noOp] of Object.entries(isNoOp)) {
    const original = tf.getKernel(kernelName, backendName);
    if (!original) continue;
    tf.unregisterKernel(kernelName, backendName);
    tf.registerKernel({
      ...original,
      kernelFunc: (args) => {
        const x = args.inputs.x as tf.TensorInfo;
        if (!noOp(x, args.attrs ?? {})) return original.kernelFunc(args);
        (args.backend as unknown as { incRef(dataId: object): void }).incRef(x.dataId);
        return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
      },
    });
  }
}

export async function selectBackend(log?: Logger, preferred = process.env.STORELOOP_TF_BACKEND): Promise<BackendInfo> {
  if (selected) return selected;
  // Production mode: no debug checks, and no warning per kernel when tfjs-node registers
  // kernels its own bundled registration already added.
  tf.env().set('PROD', true);
  const skipped: string[] = [];
  const candidates: { name: BackendName; init: () => Promise<void> }[] = [
    {
      name: 'tensorflow-gpu',
      // Only with a GPU: a failed load of the GPU package leaves its kernels registered
      // under the 'tensorflow' name, and tfjs-node loaded after it then runs at JS speed.
      init: () => (gpuCount() > 0 ? tryNative('@tensorflow/tfjs-node-gpu') : Promise.reject(new Error('no NVIDIA GPU'))),
    },
    { name: 'tensorflow', init: () => tryNative('@tensorflow/tfjs-node') },
    {
      name: 'wasm',
      init: async () => {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        require('@tensorflow/tfjs-backend-wasm');
        const missing = missingKernels('wasm');
        if (missing.length > 0) throw new Error(`missing kernels ${missing.join(', ')}`);
        if (!(await tf.setBackend('wasm'))) throw new Error('backend did not initialise');
      },
    },
    { name: 'cpu', init: async () => void (await tf.setBackend('cpu')) },
  ];
  for (const candidate of candidates) {
    if (preferred && preferred !== candidate.name) {
      skipped.push(`${candidate.name}: STORELOOP_TF_BACKEND=${preferred}`);
      continue;
    }
    try {
      await candidate.init();
      await tf.ready();
      selected = { name: candidate.name, tfBackend: tf.getBackend(), version: tf.version_core, skipped };
      log?.info({ backend: selected }, `TensorFlow.js backend: ${candidate.name}`);
      return selected;
    } catch (error) {
      skipped.push(`${candidate.name}: ${(error as Error).message.split('\n')[0]}`);
    }
  }
  throw new Error(`no TensorFlow.js backend could start: ${skipped.join('; ')}`);
}
