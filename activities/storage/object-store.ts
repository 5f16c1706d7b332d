/**
 * S3-compatible object storage with the two primitives the pipeline's guarantees rest on:
 * content-addressed, write-once artifacts (a retry after a crash writes the same key with
 * the same bytes) and compare-and-swap of small pointer objects (aliases, watermarks).
 * Works against AWS S3, MinIO, Ceph, R2 and the local Versity gateway.
 *
 * Content-addressed objects (`.../<sha256>.<ext>`) are verified on every read: bytes that
 * do not hash to their name raise an IntegrityError, which no retry can fix, instead of
 * reaching a step or a served model. SHA-256 runs at about 1 GB/s on one core here, 15-40%
 * on top of a GET from the local gateway and less against a remote S3 (npm run bench:integrity).
 */
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { heartbeat } from '../progress';
import { sha256Hex, type ArtifactFormat, type ArtifactRef } from '../../schemas/artifacts';
import type { S3Config } from '../../infra/config';

export interface StoredObject {
  key: string;
  size: number;
  etag: string;
  lastModified: Date;
}

/** Raised when a conditional write loses: someone else wrote the object first. */
export class PreconditionFailedError extends Error {
  constructor(readonly key: string) {
    super(`conditional write to ${key} lost: the object changed since it was read`);
    this.name = 'PreconditionFailedError';
  }
}

/** S3 stayed unreachable (connection refused, timeouts, 5xx) for longer than the configured tolerance. */
export class StorageUnavailableError extends Error {
  constructor(endpoint: string, seconds: number, cause: Error) {
    super(`S3 at ${endpoint} was unreachable for ${Math.round(seconds)} s (STORELOOP_STORAGE_OUTAGE_SECONDS): ${cause.name}: ${cause.message}`);
    this.name = 'StorageUnavailableError';
  }
}

const TRANSIENT_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNABORTED']);

/** An error that a later attempt may not see: the storage is down, overloaded or unreachable, not refusing the request. */
function isTransientStorageError(error: unknown): boolean {
  const status = httpStatus(error);
  if (status !== undefined) return status >= 500 || status === 429;
  const { code, name } = error as NodeJS.ErrnoException;
  return TRANSIENT_CODES.has(code ?? '') || TRANSIENT_CODES.has(name) || name === 'TimeoutError' || name === 'AbortError';
}

/** Stored bytes that do not match the hash they are known by (their name, or a manifest's record). */
export class IntegrityError extends Error {
  constructor(
    readonly key: string,
    readonly expectedSha256: string,
    readonly actualSha256: string,
  ) {
    super(`${key} is corrupt: its content hashes to sha256 ${actualSha256}, expected ${expectedSha256}`);
    this.name = 'IntegrityError';
  }
}

/** The SHA-256 a content-addressed key is named by (`.../<sha256>.<ext>`), or undefined for other keys. */
export function contentHashOf(key: string): string | undefined {
  return /(?:^|\/)([0-9a-f]{64})\.[a-z0-9]+$/.exec(key)?.[1];
}

/** Throws IntegrityError unless `bytes` hash to `expected` (no check when undefined). */
export function verifyContent(key: string, bytes: Uint8Array, expected: string | undefined): Uint8Array {
  if (expected !== undefined) {
    const actual = sha256Hex(bytes);
    if (actual !== expected) throw new IntegrityError(key, expected, actual);
  }
  return bytes;
}

/**
 * A streamed object whose chunks are hashed as they pass. `verify()` reads whatever the
 * consumer left unread (a reader may stop before an Arrow file's footer) and throws
 * IntegrityError on a mismatch; call it when the consumer is done, or when it failed (a
 * parse error on corrupt bytes is then reported as the corruption it is).
 */
export class VerifiedStream {
  private readonly hash = createHash('sha256');
  private readonly source: AsyncIterator<Uint8Array>;
  private finished = false;

  constructor(
    private readonly key: string,
    body: AsyncIterable<Uint8Array>,
    private readonly expected: string | undefined,
  ) {
    this.source = body[Symbol.asyncIterator]();
  }

  async *chunks(): AsyncGenerator<Uint8Array> {
    for (let chunk = await this.next(); chunk; chunk = await this.next()) yield chunk;
  }

  async verify(): Promise<void> {
    while (await this.next());
    if (this.expected === undefined) return;
    const actual = this.hash.digest('hex');
    if (actual !== this.expected) throw new IntegrityError(this.key, this.expected, actual);
  }

  private async next(): Promise<Uint8Array | undefined> {
    if (this.finished) return undefined;
    const { value, done } = await this.source.next();
    if (done) {
      this.finished = true;
      return undefined;
    }
    this.hash.update(value);
    return value;
  }
}

const EXTENSIONS: Record<ArtifactFormat, string> = { arrow: 'arrow', json: 'json', tfjs: 'bin' };

function httpStatus(error: unknown): number | undefined {
  return error instanceof S3ServiceException ? error.$metadata.httpStatusCode : undefined;
}

/**
 * Object keys are built from workflow input (dataset and model names). Reject anything
 * that could step out of its prefix or be read differently by another S3 implementation.
 */
export function assertSafeKeySegment(segment: string, what: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(segment) || segment.includes('..')) {
    throw new Error(`${what} "${segment}" must be 1-128 characters of letters, digits, ".", "_" or "-"`);
  }
  return segment;
}

// The SDK warns on every process start under Node < 22 that *future* SDK releases
// (from January 2027) will need Node 22. The version pinned in package-lock supports the
// Node 20 that package.json's engines allow, so the warning tells an operator nothing to
// do; upgrading Node is tracked with the SDK upgrade, not on every start.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

export class ObjectStore {
  readonly client: S3Client;
  readonly bucket: string;
  private readonly endpoint: string;
  private readonly outageToleranceMs: number;

  constructor(config: S3Config) {
    this.bucket = config.bucket;
    this.endpoint = config.endpoint ?? `AWS S3 (${config.region})`;
    this.outageToleranceMs = config.outageToleranceSeconds * 1000;
    this.client = new S3Client({
      endpoint: config.endpoint,
      region: config.region,
      forcePathStyle: config.forcePathStyle,
      credentials: { accessKeyId: config.accessKeyId, secretAccessKey: config.secretAccessKey },
      // The SDK's default CRC32 trailers are not understood by every S3 implementation.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  }

  /**
   * Sends one request, riding out a storage outage: after the SDK's own quick retries, a
   * transient failure is retried with backoff (1 s doubling to 15 s) until the tolerance
   * is used up, heartbeating so that the activity is not declared dead meanwhile; then
   * StorageUnavailableError, which no step retries. Every request here is idempotent
   * (a PUT of the same bytes, a conditional PUT, a GET, a DELETE), so a repeat is safe.
   */
  private async send<Output>(request: () => Promise<Output>): Promise<Output> {
    const started = Date.now();
    for (let delay = 1000; ; delay = Math.min(15_000, delay * 2)) {
      try {
        return await request();
      } catch (error) {
        if (!isTransientStorageError(error)) throw error;
        const waited = Date.now() - started;
        if (waited + delay > this.outageToleranceMs) {
          if (this.outageToleranceMs === 0) throw error;
          throw new StorageUnavailableError(this.endpoint, waited / 1000, error as Error);
        }
        heartbeat({ waitingForStorage: this.endpoint, seconds: Math.round(waited / 1000) });
        await sleep(delay);
      }
    }
  }

  uri(key: string): string {
    return `s3://${this.bucket}/${key}`;
  }

  keyOf(uri: string): string {
    const prefix = `s3://${this.bucket}/`;
    if (!uri.startsWith(prefix)) throw new Error(`${uri} is not in bucket ${this.bucket}`);
    return uri.slice(prefix.length);
  }

  async ensureBucket(): Promise<void> {
    try {
      await this.send(() => this.client.send(new HeadBucketCommand({ Bucket: this.bucket })));
    } catch (error) {
      if (httpStatus(error) !== 404) throw error;
      await this.send(() => this.client.send(new CreateBucketCommand({ Bucket: this.bucket })));
    }
  }

  async head(key: string): Promise<StoredObject | undefined> {
    try {
      const out = await this.send(() => this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key })));
      return { key, size: out.ContentLength ?? 0, etag: out.ETag ?? '', lastModified: out.LastModified ?? new Date(0) };
    } catch (error) {
      if (httpStatus(error) === 404) return undefined;
      throw error;
    }
  }

  /** The object's bytes, verified against `expectedSha256`, or against its name when it is content-addressed. */
  async getBytes(key: string, expectedSha256 = contentHashOf(key)): Promise<Uint8Array> {
    const out = await this.send(() => this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key })));
    return verifyContent(key, await out.Body!.transformToByteArray(), expectedSha256);
  }

  private async getRawBytes(key: string): Promise<Uint8Array> {
    const out = await this.send(() => this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key })));
    return out.Body!.transformToByteArray();
  }

  /** The object and its ETag, or undefined when it does not exist. */
  async getWithEtag(key: string): Promise<{ bytes: Uint8Array; etag: string } | undefined> {
    try {
      const out = await this.send(() => this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key })));
      return { bytes: verifyContent(key, await out.Body!.transformToByteArray(), contentHashOf(key)), etag: out.ETag ?? '' };
    } catch (error) {
      if (httpStatus(error) === 404) return undefined;
      throw error;
    }
  }

  /** A streamed object and its ETag, or undefined when it does not exist. */
  async getStreamWithEtag(key: string): Promise<{ body: AsyncIterable<Uint8Array>; etag: string } | undefined> {
    try {
      const out = await this.send(() => this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key })));
      return { body: out.Body as AsyncIterable<Uint8Array>, etag: out.ETag ?? '' };
    } catch (error) {
      if (httpStatus(error) === 404) return undefined;
      throw error;
    }
  }

  async getJson<T>(key: string, expectedSha256?: string): Promise<T> {
    return JSON.parse(Buffer.from(await this.getBytes(key, expectedSha256 ?? contentHashOf(key))).toString('utf8')) as T;
  }

  async getJsonIfExists<T>(key: string): Promise<{ value: T; etag: string } | undefined> {
    const found = await this.getWithEtag(key);
    return found && { value: JSON.parse(Buffer.from(found.bytes).toString('utf8')) as T, etag: found.etag };
  }

  /** Streams an object, for record-batch reads that must not hold a whole file; content-addressed ones are verified (VerifiedStream). */
  async getStream(key: string): Promise<VerifiedStream> {
    const out = await this.send(() => this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key })));
    return new VerifiedStream(key, out.Body as AsyncIterable<Uint8Array>, contentHashOf(key));
  }

  async put(key: string, body: Uint8Array | string, contentType = 'application/octet-stream'): Promise<void> {
    await this.send(() => this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, ContentType: contentType })));
  }

  /**
   * Compare-and-swap: writes only if the object still has `expectedEtag`, or does not
   * exist yet when `expectedEtag` is null. Throws PreconditionFailedError when it lost.
   */
  async putIfMatch(key: string, body: Uint8Array | string, expectedEtag: string | null): Promise<string> {
    try {
      const out = await this.send(() =>
        this.client.send(new PutObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Body: body,
          ContentType: 'application/json',
          ...(expectedEtag === null ? { IfNoneMatch: '*' } : { IfMatch: expectedEtag }),
        })),
      );
      return out.ETag ?? '';
    } catch (error) {
      const status = httpStatus(error);
      if (status === 412 || status === 409) throw new PreconditionFailedError(key);
      throw error;
    }
  }

  /**
   * Writes bytes once under a key derived from their SHA-256. A second write of the same
   * content (a retried activity) finds the object and returns the same reference.
   */
  async putArtifact(
    prefix: string,
    bytes: Uint8Array,
    format: ArtifactFormat,
    extra: { rows?: number; schema?: string } = {},
  ): Promise<ArtifactRef> {
    const sha256 = sha256Hex(bytes);
    const key = `${prefix}/${sha256}.${EXTENSIONS[format]}`;
    await this.putOnce(key, bytes, sha256);
    return { uri: this.uri(key), key, sha256, bytes: bytes.byteLength, format, ...extra };
  }

  /**
   * Writes `bytes` (whose SHA-256 is `sha256`) under a key that names them, once: a second
   * write finds the object and leaves it, unless the stored one is corrupt, which it repairs.
   */
  async putOnce(key: string, bytes: Uint8Array, sha256: string): Promise<void> {
    const existing = await this.head(key);
    if (!existing) {
      try {
        await this.send(() => this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: bytes, IfNoneMatch: '*' })));
      } catch (error) {
        // Lost a race against an identical write: the content is the same by construction.
        const status = httpStatus(error);
        if (status !== 412 && status !== 409) throw error;
      }
    } else if (existing.size !== bytes.byteLength || sha256Hex(await this.getRawBytes(key)) !== sha256) {
      await this.put(key, bytes);
    }
  }

  async putJsonArtifact(prefix: string, value: unknown): Promise<ArtifactRef> {
    return this.putArtifact(prefix, Buffer.from(stableJson(value)), 'json');
  }

  async delete(key: string): Promise<void> {
    await this.send(() => this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key })));
  }

  async deletePrefix(prefix: string): Promise<number> {
    const objects = await this.list(prefix);
    for (const o of objects) await this.send(() => this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: o.key })));
    return objects.length;
  }

  async list(prefix: string): Promise<StoredObject[]> {
    const objects: StoredObject[] = [];
    let token: string | undefined;
    do {
      const page = await this.send(() =>
        this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token })),
      );
      for (const o of page.Contents ?? []) {
        if (!o.Key || o.Key.endsWith('/')) continue;
        objects.push({ key: o.Key, size: o.Size ?? 0, etag: o.ETag ?? '', lastModified: o.LastModified ?? new Date(0) });
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return objects.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }
}

/** JSON with sorted keys, so equal values always hash to the same artifact. */
export function stableJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}
