"""Reference SASRec trainers for `npm run bench:training`: the same architecture and
training step as ml/sasrec.ts + ml/train-sasrec.ts, in TensorFlow/Keras or PyTorch, run
on the exact batch sequence that our trainer runs (bench/training.ts writes it as a plan).

    python sasrec_bench.py --framework keras|torch --plan /tmp/.../plan
    python sasrec_bench.py --peak        # float32 matrix-product peak (numpy)

Model (both frameworks): item embedding [numItems+1, d] (row 0 = padding; tied output
layer), learned positional embedding [maxLen, d] taken from the end (left padding),
x = E[items] * sqrt(d) + P, dropout, zeroed at padding; `blocks` pre-LayerNorm blocks:
h = LN(x); q, k, v = dense(h); causal + key-padding masked softmax(q k^T / sqrt(dk)),
dropout; x += dropout(dense_o(attn)); x += dropout(dense2(dropout(relu(dense1(LN(x))))));
x *= valid; final LN (eps 1e-8 everywhere, as ours). Loss, over the non-padding positions
only (gathered first, as ours): softmax cross-entropy over every item 1..numItems (full,
the framework's fused sparse cross-entropy), or with `meta.sampled` over the target and
`negatives` shared uniform negatives (accidental hits masked); mean over positions. Adam(lr). One optimizer step per plan step; the loss is read
back to the host after every step, as our trainer does.

The last stdout line is one JSON object.
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np


def load_plan(prefix):
    with open(prefix + ".json") as f:
        meta = json.load(f)
    data = np.fromfile(prefix + ".bin", dtype=np.int32)
    steps = []
    for s in meta["steps"]:
        n = s["rows"] * s["length"]
        inputs = data[s["offset"] : s["offset"] + n].reshape(s["rows"], s["length"])
        targets = data[s["offset"] + n : s["offset"] + 2 * n].reshape(s["rows"], s["length"])
        steps.append((inputs, targets, s["positions"]))
    return meta, steps


def timed_loop(meta, steps, warmup, step_fn):
    """Runs step_fn over the plan; times steps warmup+1..N (after the warm-up ones)."""
    rng = np.random.default_rng(meta["hp"]["seed"])
    num_items, negatives = meta["numItems"], meta["hp"]["sampledNegatives"]
    t0 = None
    losses = []
    started = time.perf_counter()
    for i, (inputs, targets, _) in enumerate(steps):
        neg = rng.integers(1, num_items + 1, size=negatives, dtype=np.int32)
        loss = step_fn(inputs, targets, neg)
        if not math.isfinite(loss):
            raise RuntimeError(f"loss became {loss} at step {i + 1}")
        losses.append(loss)
        if i + 1 == warmup:
            t0 = time.perf_counter()
    end = time.perf_counter()
    if t0 is None:
        t0 = started
    timed = steps[warmup:]
    return {
        "steps": len(steps),
        "warmupSteps": warmup,
        "timedSteps": len(timed),
        "timedSeconds": end - t0,
        "timedSamples": int(sum(s[2] for s in timed)),
        "totalSeconds": end - started,
        "firstLoss": losses[0],
        "lastLoss": losses[-1],
    }


def run_keras(meta, steps, warmup):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf
    import keras

    hp, n, sampled = meta["hp"], meta["numItems"], meta["sampled"]
    d, heads, blocks, rate, max_len, S = hp["hiddenDim"], hp["heads"], hp["blocks"], hp["dropout"], hp["maxLen"], hp["sampledNegatives"]
    dk = d // heads
    keras.utils.set_random_seed(hp["seed"])

    class Sasrec(keras.Model):
        def __init__(self):
            super().__init__()
            init = keras.initializers.TruncatedNormal(stddev=0.02)
            self.item = keras.layers.Embedding(n + 1, d, embeddings_initializer=init, name="item_embedding")
            self.pos = self.add_weight(shape=(max_len, d), initializer=init, name="position_embedding")
            self.blocks_ = []
            for b in range(blocks):
                self.blocks_.append(
                    {
                        **{m: keras.layers.Dense(d, name=f"block{b}_{m}") for m in ("query", "key", "value", "output", "ffn1", "ffn2")},
                        "attention_norm": keras.layers.LayerNormalization(epsilon=1e-8),
                        "ffn_norm": keras.layers.LayerNormalization(epsilon=1e-8),
                    }
                )
            self.final_norm = keras.layers.LayerNormalization(epsilon=1e-8)
            self.drop = keras.layers.Dropout(rate)

        def encode(self, inputs, training):
            batch, length = tf.shape(inputs)[0], tf.shape(inputs)[1]
            valid = tf.cast(inputs > 0, tf.float32)[..., None]
            positions = tf.convert_to_tensor(self.pos)[max_len - length :]
            x = self.item(inputs) * math.sqrt(d) + positions
            x = self.drop(x, training=training) * valid
            causal = tf.linalg.band_part(tf.ones([length, length]), -1, 0)
            key_valid = tf.reshape(valid, [batch, 1, 1, length])
            mask = (1.0 - causal * key_valid) * -1e9

            def split(t):
                return tf.transpose(tf.reshape(t, [batch, length, heads, dk]), [0, 2, 1, 3])

            for blk in self.blocks_:
                h = blk["attention_norm"](x)
                q, k, v = split(blk["query"](h)), split(blk["key"](h)), split(blk["value"](h))
                w = tf.nn.softmax(tf.matmul(q, k, transpose_b=True) / math.sqrt(dk) + mask)
                w = self.drop(w, training=training)
                att = tf.reshape(tf.transpose(tf.matmul(w, v), [0, 2, 1, 3]), [batch, length, d])
                x = x + self.drop(blk["output"](att), training=training)
                f = blk["ffn_norm"](x)
                inner = self.drop(tf.nn.relu(blk["ffn1"](f)), training=training)
                x = (x + self.drop(blk["ffn2"](inner), training=training)) * valid
            return self.final_norm(x)

        def loss_fn(self, inputs, targets, negatives):
            t = tf.reshape(targets, [-1])
            real = tf.where(t > 0)[:, 0]
            hidden = tf.gather(tf.reshape(self.encode(inputs, True), [-1, d]), real)
            t = tf.gather(t, real)
            emb = tf.convert_to_tensor(self.item.embeddings)
            if sampled:
                positive = tf.reduce_sum(hidden * tf.gather(emb, t), -1, keepdims=True)
                negative = tf.matmul(hidden, tf.gather(emb, negatives), transpose_b=True)
                accidental = tf.equal(t[:, None], negatives[None, :])
                logits = tf.concat([positive, tf.where(accidental, tf.fill(tf.shape(negative), -1e9), negative)], 1)
                labels = tf.zeros_like(t)
            else:
                logits = tf.matmul(hidden, emb[1:], transpose_b=True)
                labels = t - 1
            return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))

    model = Sasrec()
    model.encode(tf.ones([1, 2], tf.int32), False)  # build the layers
    optimizer = keras.optimizers.Adam(learning_rate=hp["learningRate"])

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, None], tf.int32),
            tf.TensorSpec([None, None], tf.int32),
            tf.TensorSpec([S], tf.int32),
        ]
    )
    def train_step(inputs, targets, negatives):
        with tf.GradientTape() as tape:
            loss = model.loss_fn(inputs, targets, negatives)
        grads = tape.gradient(loss, model.trainable_weights)
        optimizer.apply(grads, model.trainable_weights)
        return loss

    result = timed_loop(meta, steps, warmup, lambda i, t, neg: float(train_step(i, t, neg).numpy()))
    result.update(
        implementation="keras",
        backend=f"tensorflow-cpu {tf.__version__} / keras {keras.__version__} (tf.function graph)",
        threads={"intraOp": tf.config.threading.get_intra_op_parallelism_threads(), "interOp": tf.config.threading.get_inter_op_parallelism_threads()},
        parameters=int(sum(np.prod(v.shape) for v in model.trainable_weights)),
    )
    return result


def run_torch(meta, steps, warmup):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    hp, n, sampled = meta["hp"], meta["numItems"], meta["sampled"]
    d, heads, blocks, rate, max_len = hp["hiddenDim"], hp["heads"], hp["blocks"], hp["dropout"], hp["maxLen"]
    dk = d // heads
    torch.manual_seed(hp["seed"])

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.query, self.key, self.value, self.output = (nn.Linear(d, d) for _ in range(4))
            self.ffn1, self.ffn2 = nn.Linear(d, d), nn.Linear(d, d)
            self.attention_norm, self.ffn_norm = nn.LayerNorm(d, eps=1e-8), nn.LayerNorm(d, eps=1e-8)

    class Sasrec(nn.Module):
        def __init__(self):
            super().__init__()
            self.item = nn.Embedding(n + 1, d)
            self.pos = nn.Parameter(torch.empty(max_len, d))
            nn.init.trunc_normal_(self.item.weight, std=0.02, a=-0.04, b=0.04)
            nn.init.trunc_normal_(self.pos, std=0.02, a=-0.04, b=0.04)
            self.blocks = nn.ModuleList(Block() for _ in range(blocks))
            self.final_norm = nn.LayerNorm(d, eps=1e-8)

        def encode(self, inputs):
            batch, length = inputs.shape
            valid = (inputs > 0).float().unsqueeze(-1)
            x = self.item(inputs) * math.sqrt(d) + self.pos[max_len - length :]
            x = F.dropout(x, rate, self.training) * valid
            causal = torch.tril(torch.ones(length, length))
            mask = (1.0 - causal * valid.view(batch, 1, 1, length)) * -1e9

            def split(t):
                return t.view(batch, length, heads, dk).transpose(1, 2)

            for blk in self.blocks:
                h = blk.attention_norm(x)
                q, k, v = split(blk.query(h)), split(blk.key(h)), split(blk.value(h))
                w = F.dropout(torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(dk) + mask, -1), rate, self.training)
                att = (w @ v).transpose(1, 2).reshape(batch, length, d)
                x = x + F.dropout(blk.output(att), rate, self.training)
                inner = F.dropout(F.relu(blk.ffn1(blk.ffn_norm(x))), rate, self.training)
                x = (x + F.dropout(blk.ffn2(inner), rate, self.training)) * valid
            return self.final_norm(x)

        def loss(self, inputs, targets, negatives):
            t = targets.reshape(-1)
            real = (t > 0).nonzero(as_tuple=True)[0]
            hidden = self.encode(inputs).reshape(-1, d)[real]
            t = t[real]
            emb = self.item.weight
            if sampled:
                positive = (hidden * emb[t]).sum(-1, keepdim=True)
                negative = (hidden @ emb[negatives].T).masked_fill(t[:, None] == negatives[None, :], -1e9)
                logits = torch.cat([positive, negative], 1)
                labels = torch.zeros_like(t)
            else:
                logits = hidden @ emb[1:].T
                labels = t - 1
            return F.cross_entropy(logits, labels)

    model = Sasrec()
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=hp["learningRate"])

    def step(inputs, targets, neg):
        optimizer.zero_grad(set_to_none=True)
        loss = model.loss(torch.from_numpy(inputs).long(), torch.from_numpy(targets).long(), torch.from_numpy(neg).long())
        loss.backward()
        optimizer.step()
        return loss.item()

    result = timed_loop(meta, steps, warmup, step)
    result.update(
        implementation="pytorch",
        backend=f"torch {torch.__version__} cpu (eager)",
        threads={"intraOp": torch.get_num_threads(), "interOp": torch.get_num_interop_threads()},
        parameters=int(sum(p.numel() for p in model.parameters())),
    )
    return result


def matmul_peak(n=2048, seconds=3.0):
    """Best-of float32 n x n matrix product rate with numpy's BLAS, GFLOP/s."""
    a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    b = np.random.default_rng(1).standard_normal((n, n), dtype=np.float32)
    a @ b  # warm-up
    best = float("inf")
    deadline = time.perf_counter() + seconds
    runs = 0
    while time.perf_counter() < deadline or runs < 3:
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
        runs += 1
    blas = None
    try:
        from threadpoolctl import threadpool_info

        blas = [{k: i.get(k) for k in ("internal_api", "version", "num_threads", "architecture")} for i in threadpool_info()]
    except Exception as e:  # noqa: BLE001
        blas = str(e)
    return {"implementation": "numpy-matmul", "n": n, "runs": runs, "seconds": best, "gflops": 2 * n**3 / best / 1e9, "numpy": np.__version__, "blas": blas}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--framework", choices=["keras", "torch"])
    p.add_argument("--plan")
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--peak", action="store_true")
    args = p.parse_args()
    if args.peak:
        out = matmul_peak()
    else:
        meta, steps = load_plan(args.plan)
        warmup = min(args.warmup, len(steps) - 1)
        out = (run_keras if args.framework == "keras" else run_torch)(meta, steps, warmup)
    sys.stdout.flush()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
