/**
 * Serving latency and throughput: `npm run bench:serving -- [--kind next-item|transaction-risk] [--model <dataset>-<kind>]`.
 *
 * Starts the real service (`serving/main.ts`) as its own process on loopback, serving the
 * model's champion from the configured storage, and drives it with autocannon from this
 * process at a few concurrency levels. Every kind is loaded with its serving handler's
 * sample request (a fresh one per request). For next-item also: GET /recommendations for
 * known users, POST /recommendations for anonymous sessions, POST /feedback clicks, and the
 * floor to compare with, the model's own scoring time in this process (same code path, no
 * HTTP), one request at a time. Feedback goes to a bench prefix that is deleted afterwards, so the
 * benchmark's traffic never counts as the model's online feedback.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import autocannon from 'autocannon';
import { Command, InvalidArgumentError } from 'commander';
import { ObjectStore } from '../activities/storage/object-store';
import { readChampion } from '../activities/registry/serving-registry';
import { loadConfig, PROJECT_ROOT } from '../infra/config';
import { stackUp } from '../infra/local-stack';
import { createLogger } from '../infra/logger';
import { selectBackend } from '../ml/backend';
import { loadVersion } from '../serving/champion-watcher';
import { KIND_NAMES, kindOf } from '../activities/model-kinds/registry';
import { parseModelName } from '../schemas/lifecycle-input';
import type { LoadedRecommender } from '../activities/model-kinds/next-item/serving';
import { formatTable } from './table';

interface Row {
  scenario: string;
  connections: number;
  p50Ms: number;
  p99Ms: number;
  requestsPerSecond: number;
  requests: number;
  failed: number;
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('must be a positive integer');
  return n;
}

const intList = (value: string) => value.split(',').map((v) => positiveInt(v.trim()));

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** The model alone: one request's scoring, top-k and exclusion, timed in this process. */
async function scoringFloor(champion: LoadedRecommender, users: string[], k: number, samples: number): Promise<Row> {
  const histories = users.map((user) => champion.historyOf(user, []));
  for (let i = 0; i < 50; i++) await champion.recommend(histories[i % histories.length], k); // warm-up
  const times: number[] = [];
  const started = performance.now();
  for (let i = 0; i < samples; i++) {
    const t = performance.now();
    await champion.recommend(histories[i % histories.length], k);
    times.push(performance.now() - t);
  }
  const elapsed = (performance.now() - started) / 1000;
  times.sort((a, b) => a - b);
  return { scenario: 'in-process scoring (floor)', connections: 1, p50Ms: percentile(times, 50), p99Ms: percentile(times, 99), requestsPerSecond: samples / elapsed, requests: samples, failed: 0 };
}

function startService(model: string, port: number, feedbackPrefix: string): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', path.join(PROJECT_ROOT, 'serving', 'main.ts'), '--model', model, '--port', String(port), '--feedback-prefix', feedbackPrefix], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, STORELOOP_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

async function waitReady(url: string, service: ChildProcess): Promise<void> {
  for (let waited = 0; waited < 120_000; waited += 250) {
    if (service.exitCode !== null) throw new Error(`the service exited with code ${service.exitCode}`);
    if (await fetch(`${url}/ready`).then((r) => r.ok, () => false)) return;
    await sleep(250);
  }
  throw new Error('the service did not become ready within 120 s');
}

async function load(url: string, connections: number, seconds: number, next: () => { method: 'GET' | 'POST'; path: string; body?: string }): Promise<autocannon.Result> {
  return autocannon({
    url,
    connections,
    duration: seconds,
    headers: { 'content-type': 'application/json' },
    requests: [{ setupRequest: (request) => ({ ...request, ...next() }) }],
  });
}

async function main(): Promise<void> {
  const program = new Command('bench:serving')
    .description('latency and throughput of a model\'s service on loopback')
    .option('--kind <name>', `the model kind (${KIND_NAMES.join(', ')}); the model is store-<kind>`, 'next-item')
    .option('--model <name>', 'model whose champion is served, <dataset>-<kind> (overrides --kind)')
    .option('--connections <list>', 'concurrency levels, comma-separated', intList, [1, 16])
    .option('--duration <s>', 'seconds per measurement', positiveInt, 10)
    .option('--k <n>', 'items per recommendation list', positiveInt, 10)
    .option('--port <n>', 'loopback port for the service', positiveInt, 19480)
    .option('--json', 'print one JSON object on the last stdout line')
    .parse();
  const options = program.opts<{ kind: string; model?: string; connections: number[]; duration: number; k: number; port: number; json?: boolean }>();
  const model = options.model ?? `store-${options.kind}`;
  const kind = kindOf(parseModelName(model, KIND_NAMES).kind);
  const log = createLogger('bench');
  const config = loadConfig();
  await stackUp(log, config);
  const store = new ObjectStore(config.s3);
  const live = await readChampion(store, model);
  if (!live) throw new Error(`${model} has no champion; run \`npm start -- --kind ${kind.name}\` first (it trains and promotes ${model}) or pass --model`);
  const backend = await selectBackend(log);

  const loadBefore = os.loadavg()[0];
  // What a hot swap costs the requests in flight: loading runs beside them, but its synchronous parts stall the event loop.
  const stalls = monitorEventLoopDelay({ resolution: 1 });
  stalls.enable();
  const loadStarted = performance.now();
  const served = await loadVersion(store, kind, model, live.alias.version, { maxScoringBatch: 64 }, log);
  const swapLoad = { loadMs: performance.now() - loadStarted, longestStallMs: stalls.max / 1e6 };
  stalls.disable();
  const sample = () => {
    const request = kind.serving.sampleRequest(served.loaded);
    return { method: request.method, path: request.url, ...(request.body === undefined ? {} : { body: JSON.stringify(request.body) }) };
  };
  const scenarios: [string, () => { method: 'GET' | 'POST'; path: string; body?: string }][] = [[`${sample().method} ${sample().path.split('?')[0]} (sample request)`, sample]];
  const rows: Row[] = [];
  let described = `${JSON.stringify(kind.serving.describe(served.loaded))}`;
  if (kind.name === 'next-item') {
    // The recommender's own scenarios, and its scoring floor without HTTP.
    const champion = served.loaded as LoadedRecommender;
    const users = champion.knownUsers(2000);
    const sessions = users.map((user) => champion.decode(champion.historyOf(user, []).slice(-10)));
    rows.push(await scoringFloor(champion, users, options.k, 1000));
    let n = 0;
    scenarios.splice(0, 1,
      ['GET /recommendations', () => ({ method: 'GET', path: `/recommendations?user=${encodeURIComponent(users[n++ % users.length])}&k=${options.k}` })],
      ['POST /recommendations', () => ({ method: 'POST', path: '/recommendations', body: JSON.stringify({ items: sessions[n++ % sessions.length], k: options.k }) })],
      ['POST /feedback', () => {
        const i = n++;
        return { method: 'POST', path: '/feedback', body: JSON.stringify({ type: 'click', user: users[i % users.length], item: sessions[i % sessions.length][0] }) };
      }],
    );
    described = `${champion.numItems} items, ${champion.users} users, maxLen ${champion.maxLen}, k=${options.k}`;
  }

  const feedbackPrefix = `bench/serving-feedback/${Date.now()}/`;
  const url = `http://127.0.0.1:${options.port}`;
  const service = startService(model, options.port, feedbackPrefix);
  try {
    await waitReady(url, service);
    for (const [scenario, next] of scenarios) {
      for (const connections of options.connections) {
        await load(url, connections, 1, next); // warm-up: JIT, connection pool
        const result = await load(url, connections, options.duration, next);
        rows.push({ scenario, connections, p50Ms: result.latency.p50, p99Ms: result.latency.p99, requestsPerSecond: result.requests.average, requests: result.requests.total, failed: result.non2xx + result.errors + result.timeouts });
        log.info(rows.at(-1), 'measured');
      }
    }
  } finally {
    const exited = service.exitCode === null ? once(service, 'exit') : Promise.resolve();
    service.kill('SIGTERM');
    await exited;
    await store.deletePrefix(feedbackPrefix);
    served.retire();
    store.client.destroy();
  }

  // autocannon measures whole milliseconds; the machine's load says how far the numbers can be trusted.
  const ms = (value: number) => (value < 1 ? '<1' : value.toFixed(1));
  console.log(`\n${model} ${live.alias.version}: ${described}, backend ${backend.name}, ${options.duration} s per row, 1-min load ${loadBefore.toFixed(1)} on ${os.cpus().length} CPUs`);
  console.log(`loading this version (as a hot swap does) took ${swapLoad.loadMs.toFixed(0)} ms; the longest event-loop stall meanwhile was ${swapLoad.longestStallMs.toFixed(0)} ms`);
  console.log(
    formatTable(
      ['scenario', 'connections', 'p50 ms', 'p99 ms', 'req/s', 'failed'],
      rows.map((r) => [r.scenario, String(r.connections), ms(r.p50Ms), ms(r.p99Ms), r.requestsPerSecond.toFixed(0), String(r.failed)]),
    ),
  );
  if (options.json) {
    process.stdout.write(`${JSON.stringify({ model, kind: kind.name, version: live.alias.version, backend: backend.name, k: options.k, durationSeconds: options.duration, loadAverage: loadBefore, swapLoad, rows })}\n`);
  }
}

main().catch((error: Error) => {
  console.error(`bench:serving: ${error.message}`);
  process.exit(1);
});
