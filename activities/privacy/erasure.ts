/**
 * Erasure of one customer (a GDPR request): every stored row that names them goes, in raw
 * files, collected partitions, derived artifacts, published versions' artifacts, feedback
 * logs and quarantines, and nothing that referred to a changed object is left dangling.
 *
 *  1. Raw files of sources with identifier columns that hold the customer: deleted when
 *     collect has ingested them (their rows live on in the partitions, which step 2 rewrites).
 *     One not collected yet stops the erasure before anything changes.
 *  2. Every Arrow object with a row whose identifier column (any kind's declared identifier
 *     names: user_id, customer_id, ...) holds the customer's id or pseudonym is rewritten
 *     without those rows, and without rows linked to them (a source's `linkedBy`: the labels
 *     and feature rows of the customer's transaction ids). A content-addressed object gets a
 *     new key (its new hash).
 *  3. Every JSON object that names a rewritten object by hash is rewritten to name the new one
 *     (collect states, snapshots, version manifests, model.json, run records), repeatedly,
 *     since a rewritten snapshot has a new hash too, and a manifest pins its model.json's. Step-cache entries that named one are deleted
 *     instead: the artifacts derived from erased rows are stale, and the next run rebuilds them.
 *  4. The replaced objects are deleted, the whole store is scanned for the id and the
 *     pseudonym (anything left is reported as residual), and an audit record is written
 *     under `privacy/erasures/`, naming the customer only by a hash of the pseudonym.
 *
 * Model weights learnt from the customer's rows are not retrained here: the next run's model is
 * trained without them. A serving host keeps what it holds in memory until it restarts.
 */
import { tableToIPC, Table, type Vector } from 'apache-arrow';
import { readTable, tableFromColumns } from '../storage/arrow-io';
import { sourceStatePath, rawPrefix } from '../collect/collect';
import { readRawFile } from '../collect/raw-files';
import { sha256Hex } from '../../schemas/artifacts';
import { stableJson, type ObjectStore } from '../storage/object-store';
import type { AnyModelKind, AnySourceContract } from '../model-kinds/contract';
import type { SourceState } from '../../schemas/steps';
import { personalColumns } from './personal-data';
import type { Pseudonymiser } from './pseudonyms';
import type { Logger } from 'pino';

export const ERASURE_AUDIT_PREFIX = 'privacy/erasures';

export class ErasureBlockedError extends Error {
  constructor(files: string[]) {
    super(
      `raw file(s) ${files.join(', ')} hold rows of this customer and are not collected yet: ` +
        'run the lifecycle (its collect step) or delete them, then erase again. Nothing was changed',
    );
    this.name = 'ErasureBlockedError';
  }
}

export interface ErasureRequest {
  /** The customer's id as the store knows it (not its pseudonym). */
  id: string;
  by: string;
  reason: string;
  kinds: readonly AnyModelKind[];
  pseudonyms: Pseudonymiser;
  /** Erase from this dataset (its data and its models) only; the whole store when absent. */
  dataset?: string;
  onProgress?: (done: number, total: number, phase: string) => void;
}

export interface ErasureResult {
  /**
   * How the audit record names the customer: a SHA-256 of the pseudonym (of the id, without a
   * key). Whoever holds the key can check whether a customer was erased; nobody can read the id.
   */
  subject: string;
  rawFilesDeleted: string[];
  rewritten: { key: string; newKey: string; rowsRemoved: number }[];
  referencesUpdated: string[];
  staleCacheEntries: string[];
  /** Objects that still hold the id or pseudonym after the erasure (expected: none). */
  residual: string[];
  audit: string;
}

/**
 * The objects of one dataset: its raw files, partitions, collect state, artifacts, quarantine
 * and checkpoints, and its models' (`<dataset>-<kind>`) versions, feedback, reports and run
 * records; the step cache, shared by all, is always in scope. Everything without a dataset.
 */
function scopeOf(dataset: string | undefined, kinds: readonly AnyModelKind[]): (key: string) => boolean {
  if (dataset === undefined) return () => true;
  const prefixes = [
    CACHE_PREFIX,
    ...['raw', 'datasets', 'state', 'artifacts', 'quarantine', 'checkpoints'].map((area) => `${area}/${dataset}/`),
    ...kinds.flatMap((k) => ['serving', 'feedback', 'reports', 'runs'].map((area) => `${area}/${dataset}-${k.name}/`)),
  ];
  return (key) => prefixes.some((p) => key.startsWith(p));
}

const CONTENT_ADDRESSED = /^(.*)\/([0-9a-f]{64})\.(arrow|json)$/;
const HASH = /[0-9a-f]{64}/g;
const CACHE_PREFIX = 'cache/';

/** Identifier column names of every kind's sources and feedback logs. */
function identifierColumns(kinds: readonly AnyModelKind[]): Set<string> {
  const declared = kinds.flatMap((k) => [...k.sources.map((s) => s.personal ?? {}), k.feedback.personal ?? {}]);
  return new Set(declared.flatMap((personal) => personalColumns(personal, 'identifier')));
}

/** What names the customer's rows: their id and pseudonym in identifier columns, and the linked values found in those rows. */
interface Subject {
  identifierColumns: Set<string>;
  targets: Set<string>;
  linkedColumns: Set<string>;
  linked: Map<string, Set<string>>;
}

/** Row indices of `table` that are the customer's: by identifier, by a linked value, or among the fields of a quarantined row's text. */
function matchingRows(table: Table, subject: Subject): Set<number> {
  const rows = new Set<number>();
  const { identifierColumns: columns, targets } = subject;
  for (const field of table.schema.fields) {
    const vector = table.getChild(field.name) as Vector | null;
    if (!vector) continue;
    const linked = subject.linked.get(field.name);
    if (columns.has(field.name)) {
      for (let i = 0; i < table.numRows; i++) if (targets.has(String(vector.get(i)))) rows.add(i);
    } else if (linked) {
      for (let i = 0; i < table.numRows; i++) if (linked.has(String(vector.get(i)))) rows.add(i);
    } else if (field.name === 'raw') {
      for (let i = 0; i < table.numRows; i++) {
        const raw = vector.get(i);
        if (typeof raw === 'string' && raw.split(/[\s",;|\t{}[\]:]+/).some((token) => targets.has(token))) rows.add(i);
      }
    }
  }
  return rows;
}

/** Adds the linked columns' values of the customer's rows of `table` to the subject. */
function collectLinkedValues(table: Table, rows: Set<number>, subject: Subject): void {
  for (const column of subject.linkedColumns) {
    const vector = table.getChild(column) as Vector | null;
    if (!vector) continue;
    const values = subject.linked.get(column) ?? new Set<string>();
    for (const row of rows) values.add(String(vector.get(row)));
    subject.linked.set(column, values);
  }
}

/** The table without `removed` rows, its types untouched: the kept runs of rows are sliced, not rebuilt. */
function withoutRows(table: Table, removed: Set<number>): Table {
  const kept: Table[] = [];
  let start = 0;
  for (const row of [...removed].sort((a, b) => a - b)) {
    if (row > start) kept.push(table.slice(start, row));
    start = row + 1;
  }
  if (start < table.numRows) kept.push(table.slice(start));
  if (kept.length === 0) return tableFromColumns(table.schema, Object.fromEntries(table.schema.fields.map((f) => [f.name, []])));
  return new Table(kept.flatMap((t) => t.batches));
}

/** Whether a raw file has a row whose identifier fields name the customer (as given, or as already pseudonymised). */
async function rawFileNames(store: ObjectStore, key: string, source: AnySourceContract, targets: Set<string>, pseudonyms: Pseudonymiser): Promise<boolean> {
  const found = await store.getStreamWithEtag(key);
  if (!found) return false;
  const fields = personalColumns(source.personal, 'identifier');
  let names = false;
  await readRawFile(key, found.body, source.row, source.required, (row) => {
    const values = row as Record<string, unknown>;
    if (fields.some((f) => values[f] !== null && values[f] !== undefined && targets.has(pseudonyms.of(String(values[f]))))) names = true;
  });
  return names;
}

/** Step 1's plan: the ingested raw files to delete; throws before any change when one is not ingested. */
async function rawFilesToDelete(store: ObjectStore, request: ErasureRequest, targets: Set<string>): Promise<string[]> {
  const sources = new Map(request.kinds.flatMap((k) => k.sources).filter((s) => personalColumns(s.personal, 'identifier').length > 0).map((s) => [s.name, s]));
  const toDelete: string[] = [];
  const blocked: string[] = [];
  const ingestedByState = new Map<string, Set<string>>();
  const inScope = scopeOf(request.dataset, request.kinds);
  for (const object of (await store.list('raw/')).filter((o) => inScope(o.key))) {
    const [, dataset, sourceName] = object.key.split('/');
    const source = sources.get(sourceName);
    if (!source || !object.key.startsWith(rawPrefix(dataset, sourceName))) continue;
    if (!(await rawFileNames(store, object.key, source, targets, request.pseudonyms))) continue;
    const statePath = sourceStatePath(dataset, sourceName);
    if (!ingestedByState.has(statePath)) {
      const state = await store.getJsonIfExists<SourceState>(statePath);
      ingestedByState.set(statePath, new Set((state?.value.ingestedFiles ?? []).map((f) => `${f.key}|${f.etag}`)));
    }
    (ingestedByState.get(statePath)!.has(`${object.key}|${object.etag}`) ? toDelete : blocked).push(object.key);
  }
  if (blocked.length > 0) throw new ErasureBlockedError(blocked);
  return toDelete;
}

interface Replacement {
  sha256: string;
  key: string;
  bytes: number;
  rows?: number;
}

/** Names the new object wherever a JSON value names the old one by hash (keys, URIs, `sha256` fields, with their `bytes` and `rows`). */
function remapped(value: unknown, replacements: Map<string, Replacement>): unknown {
  if (typeof value === 'string') return value.replace(HASH, (hash) => replacements.get(hash)?.sha256 ?? hash);
  if (Array.isArray(value)) return value.map((v) => remapped(v, replacements));
  if (value === null || typeof value !== 'object') return value;
  const out = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, remapped(v, replacements)]));
  const replaced = typeof (value as { sha256?: unknown }).sha256 === 'string' ? replacements.get((value as { sha256: string }).sha256) : undefined;
  if (replaced) {
    if ('bytes' in out) out.bytes = replaced.bytes;
    if ('rows' in out && replaced.rows !== undefined) out.rows = replaced.rows;
  }
  return out;
}

const namesAny = (text: string, replacements: Map<string, Replacement>) => (text.match(HASH) ?? []).some((hash) => replacements.has(hash));

/** Erases one customer from the store (see the module comment for what that covers). */
export async function eraseCustomer(store: ObjectStore, log: Logger, request: ErasureRequest): Promise<ErasureResult> {
  const pseudonym = request.pseudonyms.of(request.id);
  const targets = new Set([request.id, pseudonym]);
  const auditName = `sha256:${sha256Hex(pseudonym).slice(0, 32)}`;
  const subject: Subject = {
    identifierColumns: identifierColumns(request.kinds),
    targets,
    linkedColumns: new Set(request.kinds.flatMap((k) => k.sources.flatMap((s) => s.linkedBy ?? []))),
    linked: new Map(),
  };

  const rawFiles = await rawFilesToDelete(store, request, targets);

  // 2. Arrow objects.
  const inScope = scopeOf(request.dataset, request.kinds);
  const everything = (await store.list('')).filter((o) => inScope(o.key));
  const arrowObjects = everything.filter((o) => o.key.endsWith('.arrow') && !o.key.startsWith('raw/'));
  // First the linked values (the customer's transaction ids), from the tables that name the customer by id.
  for (const [index, object] of subject.linkedColumns.size > 0 ? arrowObjects.entries() : []) {
    request.onProgress?.(index + 1, arrowObjects.length, 'find');
    const table = await readTable(store, object.key);
    if (table.schema.fields.some((f) => subject.identifierColumns.has(f.name))) collectLinkedValues(table, matchingRows(table, subject), subject);
  }
  const replacements = new Map<string, Replacement>();
  const rewritten: ErasureResult['rewritten'] = [];
  const replacedKeys: string[] = [];
  for (const [index, object] of arrowObjects.entries()) {
    request.onProgress?.(index + 1, arrowObjects.length, 'rewrite');
    const table = await readTable(store, object.key);
    const rows = matchingRows(table, subject);
    if (rows.size === 0) continue;
    const bytes = tableToIPC(withoutRows(table, rows), 'file');
    const addressed = CONTENT_ADDRESSED.exec(object.key);
    let newKey = object.key;
    if (addressed) {
      const ref = await store.putArtifact(addressed[1], bytes, 'arrow', { rows: table.numRows - rows.size });
      newKey = ref.key;
      replacements.set(addressed[2], { sha256: ref.sha256, key: ref.key, bytes: ref.bytes, rows: ref.rows });
      replacedKeys.push(object.key);
    } else {
      await store.put(object.key, bytes, 'application/vnd.apache.arrow.file');
    }
    rewritten.push({ key: object.key, newKey, rowsRemoved: rows.size });
  }

  // 3. References, to a fixed point: a rewritten JSON object that is content-addressed is a replacement too.
  const texts = new Map<string, { text: string; etag: string }>();
  for (const object of everything.filter((o) => o.key.endsWith('.json') && !o.key.startsWith('raw/'))) {
    const found = await store.getWithEtag(object.key);
    if (found) texts.set(object.key, { text: Buffer.from(found.bytes).toString('utf8'), etag: found.etag });
  }
  const staleCacheEntries: string[] = [];
  const referencesUpdated: string[] = [];
  const changed = new Set<string>();
  for (let pass = 0, more = replacements.size > 0; more; pass++) {
    more = false;
    for (const [key, { text, etag }] of [...texts]) {
      if (!namesAny(text, replacements)) continue;
      if (key.startsWith(CACHE_PREFIX)) {
        staleCacheEntries.push(key);
        texts.delete(key);
        continue;
      }
      const value = JSON.parse(text) as unknown;
      const addressed = CONTENT_ADDRESSED.exec(key);
      // Content-addressed JSON is stored as stableJson (putJsonArtifact); other JSON keeps its own layout.
      const updated = addressed ? stableJson(remapped(value, replacements)) : JSON.stringify(remapped(value, replacements), null, text.includes('\n ') ? 1 : undefined);
      texts.delete(key);
      if (addressed) {
        const ref = await store.putJsonArtifact(addressed[1], JSON.parse(updated));
        replacements.set(addressed[2], { sha256: ref.sha256, key: ref.key, bytes: ref.bytes });
        replacedKeys.push(key);
        texts.set(ref.key, { text: updated, etag: '' });
        referencesUpdated.push(key);
        more = true;
      } else {
        // Kept under its key, but others may pin its bytes by hash (a manifest pins model.json): those follow too.
        replacements.set(sha256Hex(text), { sha256: sha256Hex(updated), key, bytes: Buffer.byteLength(updated) });
        texts.set(key, { text: updated, etag });
        changed.add(key);
        more = true;
      }
    }
  }
  for (const key of changed) {
    const { text, etag } = texts.get(key)!;
    // A collect state is swapped like collect swaps it: a concurrent collect makes this fail, not lose rows.
    if (key.startsWith('state/')) await store.putIfMatch(key, text, etag);
    else await store.put(key, text, 'application/json');
    referencesUpdated.push(key);
  }

  // 4. Clean up, verify, record.
  for (const key of [...staleCacheEntries, ...replacedKeys, ...rawFiles]) await store.delete(key);
  const residual = await objectsNaming(store, [...targets].filter((t) => t.length >= 6), inScope, request.onProgress);
  const stamp = new Date().toISOString();
  const audit = `${ERASURE_AUDIT_PREFIX}/${stamp.replace(/[^0-9]/g, '')}-${auditName.slice(7, 19)}.json`;
  const result: ErasureResult = { subject: auditName, rawFilesDeleted: rawFiles, rewritten, referencesUpdated, staleCacheEntries, residual, audit };
  const { audit: _, ...recorded } = result;
  await store.put(audit, JSON.stringify({ at: stamp, by: request.by, reason: request.reason, pseudonymised: request.pseudonyms.enabled, ...recorded }, null, 1), 'application/json');
  log.info({ subject: auditName, rawFiles: rawFiles.length, rewritten: rewritten.length, references: referencesUpdated.length, stale: staleCacheEntries.length, residual: residual.length }, 'customer erased');
  return result;
}

/**
 * Objects whose bytes contain any of `needles` (the id, the pseudonym). An id shorter than 6
 * characters is not searched for: as bytes it is found everywhere (a customer "42").
 */
export async function objectsNaming(store: ObjectStore, needles: string[], inScope: (key: string) => boolean = () => true, onProgress?: ErasureRequest['onProgress']): Promise<string[]> {
  if (needles.length === 0) return [];
  const patterns = needles.map((n) => Buffer.from(n, 'utf8'));
  const objects = (await store.list('')).filter((o) => inScope(o.key) && !o.key.startsWith(`${ERASURE_AUDIT_PREFIX}/`));
  const found: string[] = [];
  for (const [index, object] of objects.entries()) {
    onProgress?.(index + 1, objects.length, 'verify');
    const bytes = Buffer.from((await store.getWithEtag(object.key))?.bytes ?? new Uint8Array());
    if (patterns.some((p) => bytes.includes(p))) found.push(object.key);
  }
  return found;
}
