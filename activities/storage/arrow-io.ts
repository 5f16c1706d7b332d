/**
 * Arrow IPC in and out of object storage. Artifacts are written in the IPC file format
 * (readable by pyarrow, DuckDB, Polars) and read back as a stream of record batches so a
 * reader never needs a whole dataset in memory.
 */
import {
  makeData,
  RecordBatch,
  RecordBatchReader,
  Schema,
  Struct,
  Table,
  tableToIPC,
  Vector,
  vectorFromArray,
  type DataType,
} from 'apache-arrow';
import { schemaFingerprint, type ArtifactRef } from '../../schemas/artifacts';
import type { ObjectStore } from './object-store';

/** Builds a one-batch table whose schema (names, types, nullability) is exactly `schema`. */
export function tableFromColumns(schema: Schema, columns: Record<string, unknown[] | Vector | ArrayLike<number>>): Table {
  const children = schema.fields.map((field) => {
    const column = columns[field.name];
    if (column === undefined) throw new Error(`column ${field.name} missing`);
    const vector = column instanceof Vector ? column : vectorFromArray(column as unknown[], field.type as DataType);
    return vector.data.length === 1 ? vector.data[0] : vectorFromArray([...vector], field.type as DataType).data[0];
  });
  const length = children[0]?.length ?? 0;
  const data = makeData({ type: new Struct(schema.fields), length, nullCount: 0, children });
  return new Table([new RecordBatch(schema, data)]);
}

export async function putTable(store: ObjectStore, prefix: string, table: Table): Promise<ArtifactRef> {
  const bytes = tableToIPC(table, 'file');
  return store.putArtifact(prefix, bytes, 'arrow', { rows: table.numRows, schema: schemaFingerprint(table.schema) });
}

/**
 * Record batches of an Arrow IPC object, read as the bytes arrive. A content-addressed one is
 * verified once it is read to the end: a mismatch throws IntegrityError from the iteration,
 * so a step that reads it never completes on corrupt data.
 */
export async function* readBatches(store: ObjectStore, key: string): AsyncGenerator<RecordBatch> {
  const stream = await store.getStream(key);
  try {
    const reader = await RecordBatchReader.from(stream.chunks());
    for await (const batch of reader) yield batch;
  } catch (error) {
    // Corrupt bytes often fail to parse first: report the corruption, not the parse error.
    await stream.verify();
    throw error;
  }
  // A content-addressed file is only trusted once its last byte has matched the hash.
  await stream.verify();
}

export async function readTable(store: ObjectStore, key: string): Promise<Table> {
  const batches: RecordBatch[] = [];
  for await (const batch of readBatches(store, key)) batches.push(batch);
  if (batches.length === 0) throw new Error(`${key} holds no record batch`);
  return new Table(batches);
}
