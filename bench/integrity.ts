/**
 * What verifying content on read costs: `npm run bench:integrity -- [--prefix artifacts/] [--objects 5] [--json]`.
 *
 * For the largest content-addressed objects under the prefix in the configured storage, times
 * reading each one (GET and body, best of three) and hashing its bytes with SHA-256 (what
 * ObjectStore adds to every such read, best of three), and prints the overhead. Run it after
 * a benchmark or `npm start` has stored artifacts.
 */
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { Command, InvalidArgumentError } from 'commander';
import { contentHashOf, ObjectStore } from '../activities/storage/object-store';
import { sha256Hex } from '../schemas/artifacts';
import { loadConfig } from '../infra/config';
import { stackUp } from '../infra/local-stack';
import { createLogger } from '../infra/logger';
import { formatTable } from '../infra/text-table';

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive integer');
  return n;
}

async function bestOf<T>(runs: number, work: () => Promise<T>): Promise<{ ms: number; value: T }> {
  let best = { ms: Infinity, value: undefined as T };
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    const value = await work();
    const ms = performance.now() - started;
    if (ms < best.ms) best = { ms, value };
  }
  return best;
}

async function main(): Promise<void> {
  const options = new Command('bench:integrity')
    .option('--prefix <prefix>', 'where to look for content-addressed objects', 'artifacts/')
    .option('--objects <n>', 'how many of the largest to time', positiveInt, 5)
    .option('--json', 'print one JSON object on the last stdout line')
    .parse()
    .opts<{ prefix: string; objects: number; json?: boolean }>();
  const log = createLogger('bench-integrity');
  const config = loadConfig();
  await stackUp(log, config);
  const store = new ObjectStore(config.s3);
  const objects = (await store.list(options.prefix)).filter((o) => contentHashOf(o.key)).sort((a, b) => b.size - a.size).slice(0, options.objects);
  if (objects.length === 0) throw new Error(`no content-addressed object under ${options.prefix}; run a benchmark or \`npm start\` first`);
  const rows = [];
  for (const object of objects) {
    const read = await bestOf(3, async () => {
      const out = await store.client.send(new GetObjectCommand({ Bucket: store.bucket, Key: object.key }));
      return out.Body!.transformToByteArray();
    });
    const hash = await bestOf(3, async () => sha256Hex(read.value));
    if (hash.value !== contentHashOf(object.key)) throw new Error(`${object.key} does not match its name`);
    rows.push({ key: object.key, megabytes: object.size / 1e6, readMs: read.ms, hashMs: hash.ms, hashMBps: object.size / 1e3 / hash.ms, overhead: hash.ms / read.ms });
  }
  store.client.destroy();
  console.log(`\nSHA-256 verification on read, best of 3, 1-min load ${os.loadavg()[0].toFixed(1)} on ${os.cpus().length} CPUs`);
  console.log(
    formatTable(
      ['object', 'MB', 'read ms', 'hash ms', 'hash MB/s', 'overhead'],
      rows.map((r) => [r.key.replace(/[0-9a-f]{64}/, '<sha256>'), r.megabytes.toFixed(1), r.readMs.toFixed(1), r.hashMs.toFixed(1), r.hashMBps.toFixed(0), `${(r.overhead * 100).toFixed(0)}%`]),
      100,
    ),
  );
  if (options.json) process.stdout.write(`${JSON.stringify({ rows, loadAverage: os.loadavg()[0] })}\n`);
}

main().catch((error: Error) => {
  console.error(`bench:integrity: ${error.message}`);
  process.exit(1);
});
