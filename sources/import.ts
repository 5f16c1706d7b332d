/**
 * Uploads raw data into `raw/<dataset>/events/`, where the collect step finds it.
 * Object names are the file names, so importing the same file again changes nothing
 * (same key, same ETag) and collect does not ingest it twice.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { rawEventsPrefix, eventsToArrowBytes } from '../activities/collect/collect';
import { assertSafeKeySegment, type ObjectStore } from '../activities/storage/object-store';
import { detectFormat } from '../activities/collect/raw-files';
import { sequenceFileToEvents } from './sequence-file';
import { DEFAULT_STORE, catalogueToCsv, generateSyntheticStore, weeklyEventFiles, type SyntheticStoreOptions } from './synthetic-store';

export interface ImportResult {
  dataset: string;
  keys: string[];
  rows?: number;
}

const isSequenceFile = (file: string) => /\.txt$/i.test(file);

/** Dataset name for a file: the folder of a benchmark's sequences.txt, else the file's stem. */
export function datasetNameFor(file: string): string {
  const base = path.basename(file).replace(/\.(gz)$/i, '').replace(/\.[^.]+$/, '');
  const name = isSequenceFile(file) && base === 'sequences' ? path.basename(path.dirname(path.resolve(file))) : base;
  return name.toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^[^a-z0-9]+/, '').slice(0, 64) || 'imported';
}

export async function importFile(store: ObjectStore, file: string, dataset: string): Promise<ImportResult> {
  assertSafeKeySegment(dataset, 'dataset');
  const name = path.basename(file);
  if (isSequenceFile(file)) {
    const events = sequenceFileToEvents(name, readFileSync(file, 'utf8'));
    const key = `${rawEventsPrefix(dataset)}${name.replace(/\.txt$/i, '')}.arrow`;
    await store.put(key, eventsToArrowBytes(events));
    return { dataset, keys: [key], rows: events.length };
  }
  detectFormat(name); // rejects unknown formats before uploading anything
  const key = `${rawEventsPrefix(dataset)}${assertSafeKeySegment(name, 'file name')}`;
  await store.put(key, readFileSync(file));
  return { dataset, keys: [key] };
}

/** Loads a synthetic store (by default the embedded one) into `dataset` when its raw prefix is empty. */
export async function ensureSyntheticData(
  store: ObjectStore,
  dataset: string,
  options: SyntheticStoreOptions = DEFAULT_STORE,
): Promise<ImportResult | null> {
  if ((await store.list(rawEventsPrefix(dataset))).length > 0) return null;
  const { events, catalogue } = generateSyntheticStore(options);
  const keys: string[] = [];
  for (const file of weeklyEventFiles(events)) {
    const key = `${rawEventsPrefix(dataset)}${file.name}`;
    await store.put(key, file.csv, 'text/csv');
    keys.push(key);
  }
  await store.put(`raw/${dataset}/catalogue/catalogue.csv`, catalogueToCsv(catalogue), 'text/csv');
  return { dataset, keys, rows: events.length };
}
