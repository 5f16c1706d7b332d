/**
 * What travels through workflow payloads: references to immutable, content-addressed
 * objects, never the data itself (Temporal payloads are capped at 2 MiB and every
 * payload is kept in the history).
 */
import { createHash } from 'node:crypto';
import type { Schema } from 'apache-arrow';

export type ArtifactFormat = 'arrow' | 'json' | 'tfjs';

export interface ArtifactRef {
  /** s3://bucket/key */
  uri: string;
  key: string;
  sha256: string;
  bytes: number;
  format: ArtifactFormat;
  /** Row count for Arrow artifacts. */
  rows?: number;
  /** Fingerprint of the Arrow schema (see `schemaFingerprint`). */
  schema?: string;
}

/** A stable short hash of an Arrow schema's field names, types and nullability. */
export function schemaFingerprint(schema: Schema): string {
  const shape = schema.fields.map((f) => `${f.name}:${String(f.type)}:${f.nullable ? '?' : '!'}`).join(',');
  return createHash('sha256').update(shape).digest('hex').slice(0, 16);
}

export function sha256Hex(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}
