#!/usr/bin/env node
// Checks that the native TensorFlow backend (tfjs-node) computes the same
// results as the pure-JS cpu backend of @tensorflow/tfjs, and measures a
// 512x512 matMul loop on both.
//   node infra/native-tf/verify.js [--gpu] [--tol=1e-4] [--bench-seconds=2]
// Exit code: 0 all ops match, 1 a mismatch, 2 the native backend did not load.
'use strict';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const a = args.find((x) => x.startsWith(`--${name}=`));
  return a ? a.split('=')[1] : dflt;
};
const gpu = args.includes('--gpu') || process.env.STORELOOP_TF_VARIANT === 'gpu';
const PKG = gpu ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node';
const TOL = Number(opt('tol', '1e-4'));
const BENCH_S = Number(opt('bench-seconds', '2'));

// resolve from the current directory first (the project root), then from here
const load = (name) => require(require.resolve(name, {paths: [process.cwd(), __dirname]}));
let tf;
try {
  tf = load(PKG);
} catch (e) {
  console.error(`FAIL: could not load ${PKG}: ${e.message}`);
  console.error('Run: bash infra/native-tf/install.sh' + (gpu ? ' --gpu' : ''));
  process.exit(2);
}
// The pure-JS backend ('cpu') comes from @tensorflow/tfjs; tfjs-node re-exports
// the same tfjs instance, so both backends live in this one engine.
const tfjs = load('@tensorflow/tfjs');
if (tfjs.engine() !== tf.engine()) {
  console.error('FAIL: @tensorflow/tfjs and ' + PKG + ' resolve to different tfjs-core copies');
  process.exit(2);
}

const NATIVE = 'tensorflow';
const CPU = 'cpu';

// Deterministic inputs (same numbers for both backends).
function rng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
function randArray(n, seed, scale = 1) {
  const r = rng(seed);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (r() * 2 - 1) * scale;
  return a;
}
function randInts(n, max, seed) {
  const r = rng(seed);
  const a = new Int32Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.floor(r() * max);
  return a;
}

async function onBackend(name, fn) {
  if (!(await tf.setBackend(name))) throw new Error(`backend ${name} unavailable`);
  await tf.ready();
  const before = tf.memory().numTensors;
  const out = fn.constructor.name === 'AsyncFunction' ? await fn() : tf.tidy(fn);
  const arrays = {};
  for (const [k, v] of Object.entries(out)) {
    arrays[k] = v instanceof tf.Tensor ? v.dataSync().slice() : Float32Array.from(v);
    if (v instanceof tf.Tensor) v.dispose();
  }
  const leaked = tf.memory().numTensors - before;
  if (leaked > 50) console.warn(`  (note: ${leaked} tensors left on ${name})`);
  return arrays;
}

// ---------------------------------------------------------------- the cases
const cases = {
  'matMul 256x256': () => {
    const a = tf.tensor2d(randArray(256 * 256, 1, 1 / 16), [256, 256]);
    const b = tf.tensor2d(randArray(256 * 256, 2), [256, 256]);
    return {out: tf.matMul(a, b), outT: tf.matMul(a, b, false, true)};
  },
  'gather (embedding lookup)': () => {
    const table = tf.tensor2d(randArray(1000 * 32, 3), [1000, 32]);
    const idx = tf.tensor1d(randInts(128, 1000, 4), 'int32');
    return {out: tf.gather(table, idx)};
  },
  'embedding grad (gather -> UnsortedSegmentSum)': () => {
    const table = tf.tensor2d(randArray(200 * 16, 5), [200, 16]);
    const idx = tf.tensor1d(randInts(256, 50, 6), 'int32');  // many duplicates
    const w = tf.tensor2d(randArray(256 * 16, 7), [256, 16]);
    const g = tf.grad((t) => tf.sum(tf.mul(tf.gather(t, idx), w)))(table);
    const seg = tf.unsortedSegmentSum(w, idx, 50);
    return {grad: g, segSum: seg};
  },
  'softmax cross-entropy + grad': () => {
    const logits = tf.tensor2d(randArray(64 * 100, 8, 4), [64, 100]);
    const labels = tf.oneHot(tf.tensor1d(randInts(64, 100, 9), 'int32'), 100).toFloat();
    const loss = tf.losses.softmaxCrossEntropy(labels, logits);
    const g = tf.grad((l) => tf.losses.softmaxCrossEntropy(labels, l))(logits);
    return {loss, grad: g, softmax: tf.softmax(logits), logSoftmax: tf.logSoftmax(logits)};
  },
  'GRU cell (unrolled 5 steps) + grads': () => {
    const B = 16, D = 24, H = 32;
    const xs = tf.tensor3d(randArray(5 * B * D, 10), [5, B, D]);
    const W = tf.tensor2d(randArray((D + H) * 3 * H, 11, 0.2), [D + H, 3 * H]);
    const bias = tf.tensor1d(randArray(3 * H, 12, 0.1));
    const run = (W, bias) => {
      let h = tf.zeros([B, H]);
      for (let t = 0; t < 5; t++) {
        const x = xs.gather(t).reshape([B, D]);
        const zrn = tf.add(tf.matMul(tf.concat([x, h], 1), W), bias);
        const [z, r, n] = tf.split(zrn, 3, 1);
        const zs = tf.sigmoid(z), rs = tf.sigmoid(r);
        const cand = tf.tanh(tf.add(n, tf.mul(rs, h)));
        h = tf.add(tf.mul(zs, h), tf.mul(tf.sub(1, zs), cand));
      }
      return h;
    };
    const f = (W, bias) => tf.sum(tf.square(run(W, bias)));
    const {value, grads} = tf.valueAndGrads(f)([W, bias]);
    return {h: run(W, bias), loss: value, gW: grads[0], gb: grads[1]};
  },
  'tiny model.fit (embedding + GRU + dense, Adam)': async () => {
    const vocab = 50, T = 6, N = 32;
    const model = tf.sequential();
    model.add(tf.layers.embedding({inputDim: vocab, outputDim: 8, inputLength: T}));
    model.add(tf.layers.gru({units: 12}));
    model.add(tf.layers.dense({units: vocab, activation: 'softmax'}));
    // identical weights on both backends
    model.setWeights(model.getWeights().map((w, i) =>
      tf.tensor(randArray(w.size, 100 + i, 0.3), w.shape)));
    model.compile({optimizer: tf.train.adam(0.01), loss: 'sparseCategoricalCrossentropy'});
    const x = tf.tensor2d(Float32Array.from(randInts(N * T, vocab, 20)), [N, T]);
    const y = tf.tensor2d(Float32Array.from(randInts(N, vocab, 21)), [N, 1]);
    const h = await model.fit(x, y, {epochs: 2, batchSize: 16, shuffle: false, verbose: 0});
    const out = {loss: h.history.loss, pred: model.predict(x)};
    model.getWeights().forEach((w, i) => { out[`w${i}`] = w.clone(); });
    model.dispose();
    return out;
  },
};

function compare(a, b) {
  let maxAbs = 0, maxRel = 0;
  for (const k of Object.keys(b)) {
    if (!a[k] || a[k].length !== b[k].length) return {maxAbs: Infinity, maxRel: Infinity, bad: k};
    for (let i = 0; i < b[k].length; i++) {
      const d = Math.abs(a[k][i] - b[k][i]);
      if (!(d <= maxAbs)) maxAbs = Number.isNaN(d) ? Infinity : Math.max(maxAbs, d);
      maxRel = Math.max(maxRel, d / Math.max(1, Math.abs(b[k][i])));
    }
  }
  return {maxAbs, maxRel};
}

function bench(backend) {
  tf.setBackend(backend);
  const n = 512;
  const a = tf.tensor2d(randArray(n * n, 30), [n, n]);
  const b = tf.tensor2d(randArray(n * n, 31), [n, n]);
  tf.matMul(a, b).dispose();  // warm-up
  let iters = 0;
  const t0 = process.hrtime.bigint();
  let elapsed = 0;
  while (elapsed < BENCH_S || iters < 3) {
    const c = tf.matMul(a, b);
    c.dataSync();
    c.dispose();
    iters++;
    elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
  }
  a.dispose(); b.dispose();
  return {iters, seconds: elapsed, gflops: (2 * n * n * n * iters) / elapsed / 1e9};
}

(async () => {
  await tf.setBackend(NATIVE);
  const binding = tf.backend().binding;
  console.log(`package:      ${PKG}@${tf.version['tfjs-node']}`);
  console.log(`backend:      ${tf.getBackend()}`);
  console.log(`TF version:   ${binding && binding.TF_Version}`);
  console.log(`tfjs-core:    ${tf.version['tfjs-core']}`);
  console.log(`tolerance:    max abs diff < ${TOL}`);
  let failed = 0;
  for (const [name, fn] of Object.entries(cases)) {
    let res;
    try {
      const nat = await onBackend(NATIVE, fn);
      const ref = await onBackend(CPU, fn);
      res = compare(nat, ref);
    } catch (e) {
      res = {maxAbs: Infinity, maxRel: Infinity, error: e.message};
    }
    const ok = res.maxAbs < TOL;
    if (!ok) failed++;
    console.log(`${ok ? 'ok  ' : 'FAIL'}  ${name.padEnd(48)} maxAbs=${res.maxAbs.toExponential(2)}` +
      ` maxRel=${res.maxRel.toExponential(2)}${res.error ? ' error: ' + res.error : ''}` +
      `${res.bad ? ' shape mismatch in ' + res.bad : ''}`);
  }
  if (BENCH_S > 0) {
    for (const be of [NATIVE, CPU]) {
      const r = bench(be);
      console.log(`bench matMul 512x512 on ${be.padEnd(10)}: ${r.gflops.toFixed(2)} GFLOP/s` +
        ` (${r.iters} iters in ${r.seconds.toFixed(2)}s)`);
    }
  }
  console.log(failed ? `${failed} case(s) FAILED` : 'all cases match');
  process.exit(failed ? 1 : 0);
})().catch((e) => { console.error('FAIL:', e); process.exit(1); });
