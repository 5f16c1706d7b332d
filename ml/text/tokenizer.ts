/**
 * Text normalisation and features for the intent models, one code path for training and
 * serving. A text becomes hashed feature ids: word unigrams and bigrams, character n-grams
 * of each word (fastText-style, with word boundaries), and for scripts written without
 * spaces (Chinese, Japanese) character unigrams and bigrams of each run, so such text is
 * tokenised by characters and never dropped. The tokenizer artifact (TokenizerSpec) holds
 * the hashing parameters, the vocabulary of hashed ids kept from the training split and
 * their inverse document frequencies; serving rebuilds the same Tokenizer from it.
 *
 * Hand-written rather than a library tokenizer: the feature strings must be a pure function
 * of the text and these parameters (ICU word segmentation, for one, changes between Node
 * releases), and the hashing is a few lines (FNV-1a).
 */
import { z } from 'zod';

export const HashingParams = z
  .object({
    /** Features are hashed into 2^hashBits ids before the vocabulary keeps the frequent ones. */
    hashBits: z.number().int().min(12).max(30).default(24),
    wordNgrams: z.number().int().min(1).max(3).default(2),
    charNgramMin: z.number().int().min(1).max(8).default(3),
    charNgramMax: z.number().int().min(1).max(8).default(5),
    /** Features seen in fewer training texts than this are left out of the vocabulary. */
    minDocumentFrequency: z.number().int().min(1).max(100).default(2),
  })
  .strict()
  .refine((p) => p.charNgramMin <= p.charNgramMax, { message: 'charNgramMin must not be above charNgramMax', path: ['charNgramMin'] });
export type HashingParams = z.output<typeof HashingParams>;

/** The saved tokenizer: parameters, vocabulary (hashed id per feature index) and idf per feature index. */
export interface TokenizerSpec {
  version: 1;
  params: HashingParams;
  vocabulary: number[];
  idf: number[];
  /** Word unigrams of the training split, hashed: serving counts the words outside it (out-of-vocabulary drift). */
  knownWords: number[];
}

/** One text as the models take it: feature indices and their L2-normalised tf-idf weights, plus word counts. */
export interface EncodedText {
  indices: Int32Array;
  weights: Float32Array;
  words: number;
  unknownWords: number;
}

// Scripts written without spaces between words.
const UNSPACED = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Thai}\p{Script=Lao}\p{Script=Khmer}\p{Script=Myanmar}]/u;
const TOKEN = /[\p{L}\p{M}\p{N}]+/gu;

/** NFKC (full-width letters and digits become ASCII), case folded, apostrophes dropped ("don't" = "dont"). */
export function normalise(text: string): string {
  return text.normalize('NFKC').toLowerCase().replace(/['’`]/g, '');
}

/** Words of a normalised text; a run of an unspaced script is split into its characters. */
export function words(text: string): { token: string; unspaced: boolean }[] {
  const out: { token: string; unspaced: boolean }[] = [];
  for (const [run] of normalise(text).matchAll(TOKEN)) {
    let latin = '';
    for (const char of run) {
      if (UNSPACED.test(char)) {
        if (latin) out.push({ token: latin, unspaced: false });
        latin = '';
        out.push({ token: char, unspaced: true });
      } else latin += char;
    }
    if (latin) out.push({ token: latin, unspaced: false });
  }
  return out;
}

/**
 * The feature strings of a text, with repeats: typed so a word never collides with an n-gram
 * of the same letters. `firstWord[f]` and `wordCount[f]` say which words feature f was made
 * from (an n-gram spans n words), so an explanation can hand a feature's share back to words.
 */
export function featureStrings(text: string, params: HashingParams): { features: string[]; wordFeatures: string[]; tokens: string[]; firstWord: number[]; wordCount: number[] } {
  const tokens = words(text);
  const features: string[] = [];
  const wordFeatures: string[] = [];
  const firstWord: number[] = [];
  const wordCount: number[] = [];
  const add = (feature: string, first: number, count: number) => {
    features.push(feature);
    firstWord.push(first);
    wordCount.push(count);
  };
  for (let i = 0; i < tokens.length; i++) {
    const word = `w:${tokens[i].token}`;
    add(word, i, 1);
    wordFeatures.push(word);
    // Bigrams (and longer) of consecutive tokens: word pairs, and character bigrams in unspaced runs.
    for (let n = 2; n <= params.wordNgrams && i + n <= tokens.length; n++) {
      add(`n${n}:${tokens.slice(i, i + n).map((t) => t.token).join(' ')}`, i, n);
    }
    if (tokens[i].unspaced) continue;
    const chars = [...`<${tokens[i].token}>`];
    for (let n = params.charNgramMin; n <= params.charNgramMax; n++) {
      for (let start = 0; start + n <= chars.length; start++) add(`c:${chars.slice(start, start + n).join('')}`, i, 1);
    }
  }
  return { features, wordFeatures, tokens: tokens.map((t) => t.token), firstWord, wordCount };
}

/** 32-bit FNV-1a over the UTF-8 bytes, masked to `bits`. */
export function hashFeature(feature: string, bits: number): number {
  let hash = 0x811c9dc5;
  const mix = (byte: number) => {
    hash = Math.imul(hash ^ byte, 0x01000193);
  };
  // UTF-8 encoded inline: a TextEncoder call per feature was most of the tokenizer's time.
  for (const char of feature) {
    const c = char.codePointAt(0)!;
    if (c < 0x80) mix(c);
    else if (c < 0x800) {
      mix(0xc0 | (c >> 6));
      mix(0x80 | (c & 63));
    } else if (c < 0x10000) {
      mix(0xe0 | (c >> 12));
      mix(0x80 | ((c >> 6) & 63));
      mix(0x80 | (c & 63));
    } else {
      mix(0xf0 | (c >> 18));
      mix(0x80 | ((c >> 12) & 63));
      mix(0x80 | ((c >> 6) & 63));
      mix(0x80 | (c & 63));
    }
  }
  return (hash >>> 0) & (bits >= 32 ? 0xffffffff : (1 << bits) - 1);
}

export function hashedIds(text: string, params: HashingParams): { ids: number[]; wordIds: number[] } {
  const { features, wordFeatures } = featureStrings(text, params);
  return { ids: features.map((f) => hashFeature(f, params.hashBits)), wordIds: wordFeatures.map((f) => hashFeature(f, params.hashBits)) };
}

/** Builds the tokenizer from the training texts: vocabulary by document frequency, smoothed idf = ln((1 + N) / (1 + df)) + 1. */
export function fitTokenizer(trainingTexts: readonly string[], params: HashingParams): TokenizerSpec {
  const documentFrequency = new Map<number, number>();
  const knownWords = new Set<number>();
  for (const text of trainingTexts) {
    const { ids, wordIds } = hashedIds(text, params);
    for (const id of new Set(ids)) documentFrequency.set(id, (documentFrequency.get(id) ?? 0) + 1);
    for (const id of wordIds) knownWords.add(id);
  }
  const vocabulary = [...documentFrequency].filter(([, df]) => df >= params.minDocumentFrequency).map(([id]) => id).sort((a, b) => a - b);
  const n = trainingTexts.length;
  return {
    version: 1,
    params,
    vocabulary,
    idf: vocabulary.map((id) => Math.log((1 + n) / (1 + documentFrequency.get(id)!)) + 1),
    knownWords: [...knownWords].sort((a, b) => a - b),
  };
}

export class Tokenizer {
  private readonly indexOf: Map<number, number>;
  private readonly idf: Float32Array;
  private readonly knownWords: Set<number>;

  constructor(readonly spec: TokenizerSpec) {
    if (spec.version !== 1) throw new Error(`tokenizer version ${String(spec.version)} is not supported`);
    if (spec.idf.length !== spec.vocabulary.length) throw new Error(`tokenizer has ${spec.vocabulary.length} features but ${spec.idf.length} idf values`);
    this.indexOf = new Map(spec.vocabulary.map((id, i) => [id, i]));
    this.idf = Float32Array.from(spec.idf);
    this.knownWords = new Set(spec.knownWords);
  }

  get features(): number {
    return this.spec.vocabulary.length;
  }

  /** Sublinear tf ((1 + ln tf) * idf), L2-normalised; features outside the vocabulary are dropped. */
  encode(text: string): EncodedText {
    const { ids, wordIds } = hashedIds(text, this.spec.params);
    const counts = new Map<number, number>();
    for (const id of ids) {
      const index = this.indexOf.get(id);
      if (index !== undefined) counts.set(index, (counts.get(index) ?? 0) + 1);
    }
    const indices = Int32Array.from([...counts.keys()].sort((a, b) => a - b));
    const weights = Float32Array.from(indices, (i) => (1 + Math.log(counts.get(i)!)) * this.idf[i]);
    const norm = Math.hypot(...weights);
    if (norm > 0) for (let i = 0; i < weights.length; i++) weights[i] /= norm;
    return { indices, weights, words: wordIds.length, unknownWords: wordIds.filter((id) => !this.knownWords.has(id)).length };
  }

  /**
   * Hands attributions of an encoded text's entries (`encode(text).indices` order) back to
   * its words: an entry's share is split evenly over its occurrences in the text, and an
   * occurrence's over the words it was made from. The words' attributions add up to the entries'.
   */
  wordAttributions(text: string, encoded: EncodedText, entryAttributions: ArrayLike<number>): { words: string[]; attributions: Float64Array } {
    const { features, tokens, firstWord, wordCount } = featureStrings(text, this.spec.params);
    const entryOf = new Map(Array.from(encoded.indices, (index, e) => [index, e]));
    const occurrences = new Float64Array(encoded.indices.length);
    const entries = features.map((feature) => {
      const index = this.indexOf.get(hashFeature(feature, this.spec.params.hashBits));
      const entry = index === undefined ? undefined : entryOf.get(index);
      if (entry !== undefined) occurrences[entry]++;
      return entry;
    });
    const attributions = new Float64Array(tokens.length);
    entries.forEach((entry, f) => {
      if (entry === undefined) return;
      const share = entryAttributions[entry] / occurrences[entry] / wordCount[f];
      for (let w = firstWord[f]; w < firstWord[f] + wordCount[f]; w++) attributions[w] += share;
    });
    return { words: tokens, attributions };
  }

  encodeAll(texts: readonly string[]): EncodedText[] {
    return texts.map((text) => this.encode(text));
  }
}
