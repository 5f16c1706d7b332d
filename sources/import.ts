/**
 * Uploads raw data into `raw/<dataset>/<source>/`, where the collect step finds it.
 * Object names are the file names, so importing the same file again changes nothing
 * (same key, same ETag) and collect does not ingest it twice.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { rawPrefix, rowsToArrowBytes } from '../activities/collect/collect';
import { assertSafeKeySegment, type ObjectStore } from '../activities/storage/object-store';
import { detectFormat } from '../activities/collect/raw-files';
import { eventsSource } from '../activities/model-kinds/next-item/sources';
import { sequenceFileToEvents } from './sequence-file';
import type { AnyModelKind, RawFile } from '../activities/model-kinds/contract';

export interface ImportResult {
  dataset: string;
  source: string;
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

/** The source a file goes to: the one named, else the kind's first events source. */
function sourceFor(kind: AnyModelKind, source?: string): string {
  const names = kind.sources.map((s) => s.name);
  const chosen = source ?? kind.sources.find((s) => s.mode === 'events')?.name ?? names[0];
  if (!names.includes(chosen)) throw new Error(`${kind.name} has no source "${chosen}"; its sources: ${names.join(', ')}`);
  return chosen;
}

export async function importFile(store: ObjectStore, file: string, dataset: string, kind: AnyModelKind, source?: string): Promise<ImportResult> {
  assertSafeKeySegment(dataset, 'dataset');
  const target = sourceFor(kind, source);
  const name = path.basename(file);
  if (isSequenceFile(file)) {
    // A `user item item ...` benchmark file becomes interaction events (next-item only).
    if (target !== eventsSource.name) throw new Error(`a sequence file holds interaction events; ${kind.name}'s ${target} source takes CSV, JSONL, Arrow or Parquet`);
    const events = sequenceFileToEvents(name, readFileSync(file, 'utf8'));
    const key = `${rawPrefix(dataset, target)}${name.replace(/\.txt$/i, '')}.arrow`;
    await store.put(key, rowsToArrowBytes(eventsSource, events));
    return { dataset, source: target, keys: [key], rows: events.length };
  }
  detectFormat(name); // rejects unknown formats before uploading anything
  const key = `${rawPrefix(dataset, target)}${assertSafeKeySegment(name, 'file name')}`;
  await store.put(key, readFileSync(file));
  return { dataset, source: target, keys: [key] };
}

/**
 * Loads synthetic data (by default the kind's embedded data) into `dataset` when none of the
 * kind's sources has a raw file yet. `keys` and `rows` count the event sources' files.
 */
export async function ensureSyntheticData(store: ObjectStore, dataset: string, kind: AnyModelKind, files: RawFile[] = kind.synthetic()): Promise<{ keys: string[]; rows: number } | null> {
  for (const source of kind.sources) if ((await store.list(rawPrefix(dataset, source.name))).length > 0) return null;
  const eventSources = new Set(kind.sources.filter((s) => s.mode === 'events').map((s) => s.name));
  const keys: string[] = [];
  let rows = 0;
  for (const file of files) {
    const key = `${rawPrefix(dataset, file.source)}${file.name}`;
    await store.put(key, file.body, file.contentType);
    if (!eventSources.has(file.source)) continue;
    keys.push(key);
    rows += file.rows ?? 0;
  }
  return { keys, rows };
}
