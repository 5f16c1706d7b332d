/**
 * The catalogue index for product matching: one unit vector per known product, the
 * normalised mean of its offers' unit embeddings (ml/catalogue/offer-encoder.ts), searched
 * exactly by cosine similarity. Exact search costs products x dimension multiply-adds per
 * query (13k x 128 = 1.7M for PriceRunner, about a millisecond in plain JavaScript); past
 * some hundred thousand products an approximate index (HNSW, IVF-PQ) or a vector store
 * would take its place behind the same `nearest`.
 */
import * as tf from '@tensorflow/tfjs';

/** Queries per matrix product in batch search. */
const SEARCH_CHUNK_ROWS = 1024;

export interface Match {
  /** Index of the nearest product, -1 for an empty index. */
  product: number;
  similarity: number;
}

export class ProductIndex {
  /** `vectors` row-major [products, dimension], unit rows; a product without offers has a zero row and is never returned. */
  constructor(
    readonly vectors: Float32Array,
    readonly dimension: number,
    readonly present: Uint8Array,
  ) {
    if (vectors.length !== present.length * dimension) throw new Error(`the index has ${vectors.length} values for ${present.length} products of dimension ${dimension}`);
  }

  get size(): number {
    return this.present.length;
  }

  /** Centroids of unit embeddings [offers, dimension] grouped by product index. */
  static fromOffers(embeddings: Float32Array, products: Int32Array, productCount: number, dimension: number): ProductIndex {
    const sums = new Float64Array(productCount * dimension);
    const present = new Uint8Array(productCount);
    for (let r = 0; r < products.length; r++) {
      const p = products[r];
      present[p] = 1;
      for (let d = 0; d < dimension; d++) sums[p * dimension + d] += embeddings[r * dimension + d];
    }
    const vectors = new Float32Array(productCount * dimension);
    for (let p = 0; p < productCount; p++) {
      let norm = 0;
      for (let d = 0; d < dimension; d++) norm += sums[p * dimension + d] ** 2;
      norm = Math.sqrt(norm);
      if (norm > 0) for (let d = 0; d < dimension; d++) vectors[p * dimension + d] = sums[p * dimension + d] / norm;
    }
    return new ProductIndex(vectors, dimension, present);
  }

  /** The nearest product of one unit query, in plain JavaScript (serving: no tensor dispatch per request). */
  nearest(query: Float64Array): Match {
    let best = -1;
    let similarity = -Infinity;
    const { vectors, dimension, present } = this;
    const unrolled = dimension - (dimension % 4);
    for (let p = 0; p < present.length; p++) {
      if (!present[p]) continue;
      const offset = p * dimension;
      // Four running sums: a quarter faster than one here (independent multiply-adds).
      let a0 = 0;
      let a1 = 0;
      let a2 = 0;
      let a3 = 0;
      for (let d = 0; d < unrolled; d += 4) {
        a0 += query[d] * vectors[offset + d];
        a1 += query[d + 1] * vectors[offset + d + 1];
        a2 += query[d + 2] * vectors[offset + d + 2];
        a3 += query[d + 3] * vectors[offset + d + 3];
      }
      for (let d = unrolled; d < dimension; d++) a0 += query[d] * vectors[offset + d];
      const dot = a0 + a1 + a2 + a3;
      if (dot > similarity) {
        similarity = dot;
        best = p;
      }
    }
    return { product: best, similarity: best < 0 ? 0 : similarity };
  }

  /** The nearest product of many unit queries [queries, dimension], as matrix products. */
  searchBatch(queries: Float32Array): { nearest: Int32Array; similarity: Float32Array } {
    const rows = queries.length / this.dimension;
    const nearest = new Int32Array(rows);
    const similarity = new Float32Array(rows);
    // Absent products score -2, below any cosine.
    const mask = tf.tensor1d(Float32Array.from(this.present, (p) => (p ? 0 : -2)));
    const index = tf.tensor2d(this.vectors, [this.size, this.dimension]);
    try {
      for (let start = 0; start < rows; start += SEARCH_CHUNK_ROWS) {
        const end = Math.min(rows, start + SEARCH_CHUNK_ROWS);
        const [best, value] = tf.tidy(() => {
          const scores = tf.add(tf.matMul(tf.tensor2d(queries.subarray(start * this.dimension, end * this.dimension), [end - start, this.dimension]), index, false, true), mask);
          return [tf.argMax(scores, 1), tf.max(scores, 1)];
        });
        nearest.set(best.dataSync(), start);
        similarity.set(value.dataSync(), start);
        tf.dispose([best, value]);
      }
    } finally {
      tf.dispose([mask, index]);
    }
    return { nearest, similarity };
  }
}
