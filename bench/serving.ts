/**
 * Serving latency and throughput: `npm run bench:serving -- [--kind next-item|transaction-risk] [--model <dataset>-<kind>] [--explain]`.
 *
 * Starts the real service (`serving/main.ts`) as its own process on loopback, serving the
 * model's champion from the configured storage, and drives it with autocannon from this
 * process at a few concurrency levels (closed loop: each connection sends its next request when
 * the last one is answered), and open loop at fixed offered rates (`--rate`, 250, 500, 1,000
 * and 2,000 req/s by default; 1,000 is the rate the latency target names). The fixed rates run
 * twice, in the same run: on a batched service (`--max-batch`, `--batch-window-ms`) and on an
 * unbatched one (`--max-batch 1`: each request its own model call), each a fresh process, before
 * any feedback is posted. Every kind is loaded with its serving handler's
 * sample request (a fresh one per request). For next-item also: GET /recommendations for
 * known users, POST /recommendations for anonymous sessions, POST /feedback clicks, and the
 * floor to compare with, the model's own scoring time in this process (same code path, no
 * HTTP, unbatched), one request at a time. Feedback goes to a bench prefix that is deleted afterwards, so the
 * benchmark's traffic never counts as the model's online feedback.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
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
import { SERVING_DEFAULTS } from '../serving/server';
import { KIND_NAMES, kindOf } from '../activities/model-kinds/registry';
import { parseModelName } from '../schemas/lifecycle-input';
import type { LoadedRecommender } from '../activities/model-kinds/next-item/serving';
import { formatTable } from '../infra/text-table';

/** One fixed rate on the batched or the unbatched service (the `--json` line's `rates`). */
interface RateRow {
  scenario: string;
  path: 'batched' | 'unbatched';
  rate: number;
  achieved: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  errors: number;
}

interface Row {
  scenario: string;
  connections: number;
  /** Requests per second sent on a fixed schedule; null for the closed-loop rows. */
  offeredRate: number | null;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
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

function nonNegative(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError('must be a number of at least 0');
  return n;
}

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
  return { scenario: 'in-process scoring (floor)', connections: 1, offeredRate: null, p50Ms: percentile(times, 50), p99Ms: percentile(times, 99), p999Ms: percentile(times, 99.9), requestsPerSecond: samples / elapsed, requests: samples, failed: 0 };
}

function startService(model: string, port: number, feedbackPrefix: string, batching: { maxBatch: number; windowMs: number }): ChildProcess {
  const args = ['--model', model, '--port', String(port), '--feedback-prefix', feedbackPrefix, '--max-batch', String(batching.maxBatch), '--batch-window-ms', String(batching.windowMs)];
  return spawn(process.execPath, ['--import', 'tsx', path.join(PROJECT_ROOT, 'serving', 'main.ts'), ...args], {
    cwd: PROJECT_ROOT,
    // The benchmark measures capacity, so its feedback scenario (thousands of clicks a second from one client) is not rate-limited.
    env: { ...process.env, STORELOOP_LOG_LEVEL: 'warn', STORELOOP_FEEDBACK_CLIENT_BURST: '1e12', STORELOOP_FEEDBACK_CLIENT_PER_SECOND: '1e12', STORELOOP_FEEDBACK_USER_BURST: '1e12', STORELOOP_FEEDBACK_USER_PER_SECOND: '1e12' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

/** Runs `work` against a fresh service with these batching settings, then stops it. */
async function withService(model: string, port: number, feedbackPrefix: string, batching: { maxBatch: number; windowMs: number }, work: () => Promise<void>): Promise<void> {
  const service = startService(model, port, feedbackPrefix, batching);
  try {
    await waitReady(`http://127.0.0.1:${port}`, service);
    await work();
  } finally {
    const exited = service.exitCode === null ? once(service, 'exit') : Promise.resolve();
    service.kill('SIGTERM');
    await exited;
  }
}

async function waitReady(url: string, service: ChildProcess): Promise<void> {
  for (let waited = 0; waited < 120_000; waited += 250) {
    if (service.exitCode !== null) throw new Error(`the service exited with code ${service.exitCode}`);
    if (await fetch(`${url}/ready`).then((r) => r.ok, () => false)) return;
    await sleep(250);
  }
  throw new Error('the service did not become ready within 120 s');
}

type NextRequest = () => { method: 'GET' | 'POST'; path: string; body?: string };

async function load(url: string, connections: number, seconds: number, next: NextRequest): Promise<autocannon.Result> {
  return autocannon({
    url,
    connections,
    duration: seconds,
    headers: { 'content-type': 'application/json' },
    requests: [{ setupRequest: (request) => ({ ...request, ...next() }) }],
  });
}

/**
 * Open loop at a fixed rate: request i is due at start + i / rate whether or not earlier ones
 * were answered, over at most `sockets` keep-alive connections, and its latency counts from
 * when it was due, so time queued in the client or the service is included (no coordinated
 * omission). autocannon's `overallRate` is no substitute: it sends each second's quota back
 * to back and then idles. Hand-written on node:http for that reason.
 */
async function openLoop(url: string, rate: number, seconds: number, sockets: number, next: NextRequest): Promise<Omit<Row, 'scenario'>> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: sockets });
  const { hostname, port } = new URL(url);
  const total = Math.round(rate * seconds);
  const latencies: number[] = [];
  let failed = 0;
  let sent = 0;
  const started = performance.now();
  await new Promise<void>((resolve) => {
    const answered = (dueAt: number, ok: boolean) => {
      latencies.push(performance.now() - dueAt);
      if (!ok) failed++;
      if (latencies.length === total) resolve();
    };
    const send = (dueAt: number) => {
      const { method, path: requestPath, body } = next();
      const headers = body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) };
      const request = http.request({ hostname, port, path: requestPath, method, agent, headers }, (response) => {
        response.resume();
        response.on('end', () => answered(dueAt, (response.statusCode ?? 500) < 300));
      });
      request.on('error', () => answered(dueAt, false));
      request.end(body);
    };
    // A 1 ms timer sends everything that has fallen due since the last tick.
    const timer = setInterval(() => {
      const now = performance.now();
      while (sent < total && started + (sent * 1000) / rate <= now) send(started + (sent++ * 1000) / rate);
      if (sent === total) clearInterval(timer);
    }, 1);
  });
  const elapsed = (performance.now() - started) / 1000;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  return { connections: sockets, offeredRate: rate, p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99), p999Ms: percentile(latencies, 99.9), requestsPerSecond: total / elapsed, requests: total, failed };
}

function withExplain(request: ReturnType<NextRequest>): ReturnType<NextRequest> {
  return { ...request, path: `${request.path}${request.path.includes('?') ? '&' : '?'}explain=true` };
}

async function main(): Promise<void> {
  const program = new Command('bench:serving')
    .description('latency and throughput of a model\'s service on loopback')
    .option('--kind <name>', `the model kind (${KIND_NAMES.join(', ')}); the model is store-<kind>`, 'next-item')
    .option('--model <name>', 'model whose champion is served, <dataset>-<kind> (overrides --kind)')
    .option('--connections <list>', 'concurrency levels, comma-separated', intList, [1, 16])
    .option('--rate <list>', 'fixed offered rates, req/s, comma-separated (open loop, on the batched and the unbatched service)', intList, [250, 500, 1000, 2000])
    .option('--max-batch <n>', 'the batched service\'s most requests per model call', positiveInt, SERVING_DEFAULTS.maxScoringBatch)
    .option('--batch-window-ms <ms>', 'the batched service\'s batching window', nonNegative, SERVING_DEFAULTS.batchWindowMs)
    .option('--rate-connections <n>', 'most keep-alive connections of the fixed-rate client', positiveInt, 64)
    .option('--duration <s>', 'seconds per measurement', positiveInt, 10)
    .option('--k <n>', 'items per recommendation list', positiveInt, 10)
    .option('--port <n>', 'loopback port for the service', positiveInt, 19480)
    .option('--explain', 'also measure each scoring scenario with ?explain=true, right after it (the cost of explanations)')
    .option('--json', 'print one JSON object on the last stdout line')
    .parse();
  const options = program.opts<{ kind: string; model?: string; connections: number[]; rate: number[]; rateConnections: number; maxBatch: number; batchWindowMs: number; duration: number; k: number; port: number; explain?: boolean; json?: boolean }>();
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
  // Unbatched: the floor is one request's own model call.
  const served = await loadVersion(store, kind, model, live.alias.version, { maxScoringBatch: 1, batchWindowMs: 0 }, log);
  const swapLoad = { loadMs: performance.now() - loadStarted, longestStallMs: stalls.max / 1e6 };
  stalls.disable();
  const sample = () => {
    const request = kind.serving.sampleRequest(served.loaded);
    return { method: request.method, path: request.url, ...(request.body === undefined ? {} : { body: JSON.stringify(request.body) }) };
  };
  const scenarios: [string, NextRequest][] = [[`${sample().method} ${sample().path.split('?')[0]} (sample request)`, sample]];
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
    described = `${champion.numItems} items, ${champion.users} users (${champion.precomputedUsers} precomputed), maxLen ${champion.maxLen}, k=${options.k}`;
  }

  if (options.explain) {
    // Each scoring scenario, then the same requests asking for an explanation: adjacent rows, so their ratio is taken under the same load.
    for (let i = scenarios.length - 1; i >= 0; i--) {
      const [scenario, next] = scenarios[i];
      if (scenario.includes('/feedback')) continue;
      scenarios.splice(i + 1, 0, [`${scenario} ?explain=true`, () => withExplain(next())]);
    }
  }

  const feedbackPrefix = `bench/serving-feedback/${Date.now()}/`;
  const url = `http://127.0.0.1:${options.port}`;
  // The fixed rates run for every scoring scenario on both services, before any feedback is posted (a user with new events is scored online).
  const scoring = scenarios.filter(([scenario]) => !scenario.includes('/feedback') && !scenario.includes('?explain'));
  const rates: RateRow[] = [];
  const batched = { maxBatch: options.maxBatch, windowMs: options.batchWindowMs };
  try {
    for (const [servicePath, batching] of [['batched', batched], ['unbatched', { maxBatch: 1, windowMs: 0 }]] as const) {
      await withService(model, options.port, feedbackPrefix, batching, async () => {
        for (const [scenario, next] of scoring) {
          for (const rate of options.rate) {
            await openLoop(url, rate, 1, options.rateConnections, next); // warm-up
            const row = await openLoop(url, rate, options.duration, options.rateConnections, next);
            rates.push({ scenario, path: servicePath, rate, achieved: row.requestsPerSecond, p50Ms: row.p50Ms, p99Ms: row.p99Ms, p999Ms: row.p999Ms, errors: row.failed });
            log.info(rates.at(-1), 'measured at a fixed rate');
          }
        }
        if (servicePath === 'unbatched') return;
        for (const [scenario, next] of scenarios) {
          for (const connections of options.connections) {
            await load(url, connections, 1, next); // warm-up: JIT, connection pool
            const result = await load(url, connections, options.duration, next);
            rows.push({ scenario, connections, offeredRate: null, p50Ms: result.latency.p50, p99Ms: result.latency.p99, p999Ms: result.latency.p99_9, requestsPerSecond: result.requests.average, requests: result.requests.total, failed: result.non2xx + result.errors + result.timeouts });
            log.info(rows.at(-1), 'measured');
          }
        }
      });
    }
  } finally {
    await store.deletePrefix(feedbackPrefix);
    served.retire();
    store.client.destroy();
  }

  // autocannon measures whole milliseconds (shown as "<1" below one); the floor and the fixed-rate
  // rows are timed with performance.now(). The machine's load says how far the numbers can be trusted.
  const ms = (row: Row, value: number) => (row.offeredRate === null && !row.scenario.startsWith('in-process') && value < 1 ? '<1' : value.toFixed(value < 10 ? 2 : 1));
  console.log(`\n${model} ${live.alias.version}: ${described}, backend ${backend.name}, ${options.duration} s per row, 1-min load ${loadBefore.toFixed(1)} at the start and ${os.loadavg()[0].toFixed(1)} at the end, on ${os.cpus().length} CPUs (the load generator and the service share them)`);
  console.log(`loading this version (as a hot swap does) took ${swapLoad.loadMs.toFixed(0)} ms; the longest event-loop stall meanwhile was ${swapLoad.longestStallMs.toFixed(0)} ms`);
  console.log(
    formatTable(
      ['scenario', 'connections', 'offered', 'p50 ms', 'p99 ms', 'p99.9 ms', 'req/s', 'failed'],
      rows.map((r) => [r.scenario, String(r.connections), r.offeredRate === null ? 'max' : `${r.offeredRate}/s`, ms(r, r.p50Ms), ms(r, r.p99Ms), ms(r, r.p999Ms), r.requestsPerSecond.toFixed(0), String(r.failed)]),
    ),
  );
  const fixed = (value: number) => value.toFixed(value < 10 ? 2 : 1);
  console.log(`\nfixed rates (open loop, latency from when each request was due), batched (at most ${batched.maxBatch} per model call, ${batched.windowMs} ms window) and unbatched (each request its own model call):`);
  console.log(
    formatTable(
      ['scenario', 'path', 'offered', 'achieved', 'p50 ms', 'p99 ms', 'p99.9 ms', 'errors'],
      rates.map((r) => [r.scenario, r.path, `${r.rate}/s`, `${r.achieved.toFixed(0)}/s`, fixed(r.p50Ms), fixed(r.p99Ms), fixed(r.p999Ms), String(r.errors)]),
    ),
  );
  if (options.json) {
    process.stdout.write(`${JSON.stringify({ model, kind: kind.name, version: live.alias.version, backend: backend.name, k: options.k, durationSeconds: options.duration, loadAverage: loadBefore, swapLoad, batching: batched, rows, rates })}\n`);
  }
}

main().catch((error: Error) => {
  console.error(`bench:serving: ${error.message}`);
  process.exit(1);
});
