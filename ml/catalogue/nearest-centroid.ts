/**
 * The TF-IDF nearest-centroid baseline: each class (a category, or a product) is the
 * normalised mean of its training texts' L2-normalised tf-idf vectors (ml/text/tokenizer.ts),
 * and a text goes to the class of highest cosine similarity. Centroids are sparse and
 * searched through an inverted index (feature -> classes), so ten categories and ten
 * thousand products cost the same code.
 */
import type { EncodedText } from '../text/tokenizer';

export class NearestCentroid {
  /** Per feature: the classes whose centroid has it, and their weights. */
  private constructor(
    private readonly postings: Map<number, { classes: Int32Array; weights: Float32Array }>,
    readonly classes: number,
    private readonly present: Uint8Array,
  ) {}

  static fit(texts: readonly EncodedText[], labels: Int32Array, classes: number): NearestCentroid {
    const sums: Map<number, number>[] = Array.from({ length: classes }, () => new Map());
    const present = new Uint8Array(classes);
    texts.forEach((text, r) => {
      const sum = sums[labels[r]];
      present[labels[r]] = 1;
      for (let e = 0; e < text.indices.length; e++) sum.set(text.indices[e], (sum.get(text.indices[e]) ?? 0) + text.weights[e]);
    });
    const lists = new Map<number, { classes: number[]; weights: number[] }>();
    sums.forEach((sum, c) => {
      const norm = Math.sqrt([...sum.values()].reduce((a, w) => a + w * w, 0));
      for (const [feature, w] of sum) {
        const list = lists.get(feature) ?? { classes: [], weights: [] };
        lists.set(feature, list);
        list.classes.push(c);
        list.weights.push(w / norm);
      }
    });
    const postings = new Map([...lists].map(([feature, l]) => [feature, { classes: Int32Array.from(l.classes), weights: Float32Array.from(l.weights) }]));
    return new NearestCentroid(postings, classes, present);
  }

  /** The nearest class of each text and its cosine similarity (a text sharing no feature with any centroid gets the first class, similarity 0). */
  search(texts: readonly EncodedText[]): { nearest: Int32Array; similarity: Float32Array } {
    const nearest = new Int32Array(texts.length);
    const similarity = new Float32Array(texts.length);
    const scores = new Float64Array(this.classes);
    const touched: number[] = [];
    texts.forEach((text, r) => {
      for (let e = 0; e < text.indices.length; e++) {
        const posting = this.postings.get(text.indices[e]);
        if (!posting) continue;
        for (let k = 0; k < posting.classes.length; k++) {
          const c = posting.classes[k];
          if (scores[c] === 0) touched.push(c);
          scores[c] += text.weights[e] * posting.weights[k];
        }
      }
      let best = this.present.indexOf(1);
      let value = 0;
      for (const c of touched) {
        if (scores[c] > value) {
          value = scores[c];
          best = c;
        }
        scores[c] = 0;
      }
      touched.length = 0;
      nearest[r] = best;
      similarity[r] = value;
    });
    return { nearest, similarity };
  }
}
