/**
 * preprocess for intent routing: the labelled utterances up to the cut-off, each once, in
 * their splits (protocol.ts), and the tokenizer fitted on the training split. Artifacts:
 *
 *   utterances  one row per labelled utterance: text, intent, intent index, split
 *   tokenizer   hashing parameters, vocabulary and idf (ml/text/tokenizer.ts): training and
 *               evaluation encode texts with it, and the model carries it to serving
 */
import { Field, Int32, Int8, Schema, Utf8, type Table } from 'apache-arrow';
import { readBatches, tableFromColumns } from '../../storage/arrow-io';
import { InputDataError } from '../../errors';
import { fitTokenizer, type TokenizerSpec } from '../../../ml/text/tokenizer';
import { IntentOptions, SPLIT, splitOf } from './protocol';
import type { KindRuntime } from '../contract';
import type { DatasetSnapshot, PreprocessResult } from '../../../schemas/steps';

export class NoUtterancesError extends InputDataError {
  constructor(dataset: string, detail: string) {
    super('NoUtterancesError', `dataset ${dataset}: ${detail} (upload files to raw/${dataset}/utterances/ with columns text,intent, e.g. storeloop import <file> --kind intent-routing --dataset ${dataset})`);
  }
}

export const PREPARED_SCHEMA = new Schema([
  new Field('text', new Utf8(), false),
  new Field('intent', new Utf8(), false),
  new Field('label', new Int32(), false),
  new Field('split', new Int8(), false),
]);

interface Collected {
  texts: string[];
  intents: string[];
  splits: number[];
  unlabelled: number;
  duplicates: number;
  tooLong: number;
  afterCutoff: number;
}

async function readUtterances(rt: KindRuntime, snapshot: DatasetSnapshot, options: IntentOptions, cutoffMs: number): Promise<Collected> {
  const out: Collected = { texts: [], intents: [], splits: [], unlabelled: 0, duplicates: 0, tooLong: 0, afterCutoff: 0 };
  const seen = new Set<string>();
  const partitions = snapshot.sources.utterances?.partitions ?? [];
  for (const [index, partition] of partitions.entries()) {
    for await (const batch of readBatches(rt.store, partition.key)) {
      const [texts, intents, conversations, times, splits] = ['text', 'intent', 'conversation_id', 'timestamp', 'split'].map((c) => batch.getChild(c)!);
      for (let row = 0; row < batch.numRows; row++) {
        const time = times.get(row);
        if (time !== null && Number(time) >= cutoffMs) {
          out.afterCutoff++;
          continue;
        }
        const intent = intents.get(row) as string | null;
        if (intent === null) {
          out.unlabelled++;
          continue;
        }
        const text = texts.get(row) as string;
        if ([...text].length > options.maxTextChars) {
          out.tooLong++;
          continue;
        }
        const conversation = conversations.get(row) as string | null;
        const split = splitOf({ text, conversation_id: conversation, split: splits.get(row) as string | null }, options);
        // A row exported twice (overlapping exports, a re-sent correction) counts once; the same
        // words from two customers are two rows, told apart by conversation and time where the data has them.
        const key = [split, intent, conversation ?? '', time === null ? '' : Number(time), text].join('\u0000');
        if (seen.has(key)) {
          out.duplicates++;
          continue;
        }
        seen.add(key);
        out.texts.push(text);
        out.intents.push(intent);
        out.splits.push(split);
      }
    }
    rt.heartbeat({ partitions: index + 1, of: partitions.length });
  }
  return out;
}

export async function prepareUtterances(rt: KindRuntime, snapshot: DatasetSnapshot, options: IntentOptions): Promise<Omit<PreprocessResult, 'cached' | 'kind'>> {
  const { dataset, dataCutoff } = rt.ctx.config;
  const collected = await readUtterances(rt, snapshot, options, dataCutoff ? Date.parse(dataCutoff) : Number.POSITIVE_INFINITY);
  const training = collected.splits.map((s, i) => (s === SPLIT.train ? i : -1)).filter((i) => i >= 0);
  const intents = [...new Set(training.map((i) => collected.intents[i]))].sort();
  if (intents.length < 2) throw new NoUtterancesError(dataset, `the training split holds ${intents.length} intent(s); at least two are needed`);
  const indexOf = new Map(intents.map((intent, i) => [intent, i]));
  // Held-out rows of an intent training never saw cannot be predicted right or wrong by this model: counted, left out.
  const keep = collected.texts.map((_, i) => i).filter((i) => indexOf.has(collected.intents[i]));
  const count = (split: number) => keep.filter((i) => collected.splits[i] === split).length;
  for (const [name, split] of Object.entries(SPLIT)) {
    if (count(split) === 0) throw new NoUtterancesError(dataset, `the ${name} split holds no labelled utterances (${collected.texts.length} labelled in all)`);
  }
  const tokenizer: TokenizerSpec = fitTokenizer(training.map((i) => collected.texts[i]), options.tokenizer);
  rt.heartbeat({ tokenizer: tokenizer.vocabulary.length });
  const table: Table = tableFromColumns(PREPARED_SCHEMA, {
    text: keep.map((i) => collected.texts[i]),
    intent: keep.map((i) => collected.intents[i]),
    label: Int32Array.from(keep, (i) => indexOf.get(collected.intents[i])!),
    split: Int8Array.from(keep, (i) => collected.splits[i]),
  });
  const stats = {
    utterances: keep.length,
    intents: intents.length,
    trainRows: count(SPLIT.train),
    validationRows: count(SPLIT.validation),
    testRows: count(SPLIT.test),
    features: tokenizer.vocabulary.length,
    unlabelled: collected.unlabelled,
    duplicates: collected.duplicates,
    tooLong: collected.tooLong,
    afterCutoff: collected.afterCutoff,
    unseenIntentRows: collected.texts.length - keep.length,
  };
  return {
    artifacts: { utterances: await rt.putTable('utterances', table), tokenizer: await rt.putJson('tokenizer', tokenizer) },
    stats,
    rows: keep.length,
    detail: `${keep.length} labelled utterances, ${intents.length} intents; train ${stats.trainRows}, validation ${stats.validationRows}, test ${stats.testRows}; ${stats.features} features`,
  };
}

/** The rows of some splits of the utterances artifact. */
export interface SplitTexts {
  texts: string[];
  labels: Int32Array;
}

export function splitTexts(table: Table, which: readonly number[]): SplitTexts {
  const split = table.getChild('split')!.toArray() as Int8Array;
  const label = table.getChild('label')!.toArray() as Int32Array;
  const text = table.getChild('text')!;
  const rows = Array.from(split.keys()).filter((i) => which.includes(split[i]));
  return { texts: rows.map((i) => text.get(i) as string), labels: Int32Array.from(rows, (i) => label[i]) };
}

/** The intents in index order (the label column indexes them). */
export function intentsOf(table: Table): string[] {
  const intent = table.getChild('intent')!;
  const label = table.getChild('label')!.toArray() as Int32Array;
  const names: string[] = [];
  for (let i = 0; i < label.length; i++) names[label[i]] ??= intent.get(i) as string;
  return names;
}
