/**
 * The contract every registered model kind must meet, on the real stack: trained on its
 * embedded synthetic data it beats its baseline on its primary metric and is promoted; its
 * serving route answers, and with `?explain=true` adds a non-empty explanation; the row its
 * prediction logged is read back by the feedback step;
 * its run report renders its metrics and a segment table per declared attribute; a tampered file of its served version is refused.
 * A new kind passes this before anything else.
 */
import assert from 'node:assert/strict';
import { testStack, log } from './test-stack';
import { recordHistory } from './history-fixtures';
import { runLifecycle } from '../../cli/local-run';
import { createActivities } from '../../activities';
import { MODEL_KINDS } from '../../activities/model-kinds/registry';
import { isBetter } from '../../activities/evaluate';
import { ensureSyntheticData } from '../../sources/import';
import { startServingServer } from '../../serving/server';
import { loadVersion } from '../../serving/champion-watcher';
import { readVersionManifest, versionPrefix } from '../../activities/registry/serving-registry';
import { IntegrityError } from '../../activities/storage/object-store';
import { parseLifecycleInput, servingModelName } from '../../schemas/lifecycle-input';
import type { StepContext } from '../../schemas/steps';

/** An explanation with something in it: a non-empty list, or an object with a non-empty value. */
function nonEmpty(value: unknown): boolean {
  if (Array.isArray(value)) return value.length > 0;
  if (value && typeof value === 'object') return Object.values(value).some((v) => (typeof v === 'number' ? Number.isFinite(v) : nonEmpty(v)));
  return false;
}

for (const kind of MODEL_KINDS.values()) {
  describe(`model-kind conformance: ${kind.name} @integration`, () => {
    it('trains on its synthetic data, beats its baseline and is promoted; serves; its prediction log is read back by feedback; its report renders', async () => {
      const { config, workers } = await testStack();
      const { store } = workers;
      const dataset = 'conformance';
      const model = servingModelName({ dataset, kind: kind.name });
      assert.ok(await ensureSyntheticData(store, dataset, kind), 'the synthetic data was uploaded');

      const run = await runLifecycle(workers.client, config, { kind: kind.name, dataset });
      assert.equal(run.status, 'completed', run.status === 'failed' ? run.error : '');
      const s = run.summary;
      await recordHistory(workers.client, s.workflowId, `${kind.name}-lifecycle`);
      const primary = kind.metrics.specs.find((m) => m.name === kind.metrics.primary)!;
      assert.equal(s.kind, kind.name);
      assert.equal(s.primaryMetric, primary.name);
      assert.deepEqual(Object.keys(s.metrics).sort(), kind.metrics.specs.map((m) => m.name).sort(), 'every declared metric is measured');
      assert.ok(isBetter(primary, s.metrics[primary.name], s.baseline[primary.name]), `${primary.name} ${s.metrics[primary.name]} vs ${s.baselineLabel} ${s.baseline[primary.name]}`);
      assert.equal(s.promoted, true, s.reasons.join('; '));

      // The serving route answers, and names the version that answered.
      const server = await startServingServer({ model, store, pollIntervalMs: 200, feedback: { flushIntervalMs: 100 }, log });
      let version: string;
      try {
        assert.equal(server.version(), s.version);
        const served = await loadVersion(store, kind, model, s.version!, { maxScoringBatch: 8, batchWindowMs: 0 }, log);
        // A fresh sample per request: a sample may name something that can be scored only once (a transaction id).
        const [sample, explainedSample, refusedSample] = [0, 1, 2].map(() => kind.serving.sampleRequest(served.loaded));
        served.retire();
        const send = (request: typeof sample, query = '') =>
          fetch(`${server.url}${request.url}${query ? `${request.url.includes('?') ? '&' : '?'}${query}` : ''}`, {
            method: request.method,
            ...(request.body === undefined ? {} : { body: JSON.stringify(request.body), headers: { 'content-type': 'application/json' } }),
          });
        const response = await send(sample);
        const body = (await response.json()) as { version: string; explanation?: unknown };
        assert.equal(response.status, 200, JSON.stringify(body));
        assert.equal(body.version, s.version);
        assert.equal(body.explanation, undefined, 'an explanation is computed only when asked');
        version = body.version;

        // A request asking for an explanation gets a non-empty one; another value of explain is refused.
        const explained = (await (await send(explainedSample, 'explain=true')).json()) as { explanation?: unknown };
        assert.ok(nonEmpty(explained.explanation), `${kind.name} explains its answer (${kind.serving.explanation.method}): ${JSON.stringify(explained)}`);
        assert.equal((await send(refusedSample, 'explain=maybe')).status, 400, 'explain must be true or false');
        const badRequest = await fetch(`${server.url}${sample.url}`, { method: 'POST', body: JSON.stringify({ surprise: true }), headers: { 'content-type': 'application/json' } });
        assert.ok([400, 404].includes(badRequest.status), `a malformed request is refused (${badRequest.status})`);
      } finally {
        await server.close(); // flushes the feedback log
      }

      // The feedback step reads the logged prediction back, credited to the version that served it.
      const activities = createActivities({ store, log });
      const ctx: StepContext = { config: parseLifecycleInput({ kind: kind.name, dataset }), workflowId: `conformance-feedback-${kind.name}`, runId: 'r', startedAt: new Date(Date.now() + 60_000).toISOString() };
      const prepared = await activities.preprocess(ctx, await activities.collect(ctx));
      assert.equal(prepared.cached, true, 'the same snapshot preprocesses from the cache');
      const feedback = await activities.feedback(ctx, prepared);
      assert.equal(feedback.status, 'measured');
      assert.ok((feedback.perVersion[version]?.requests ?? 0) >= 1, JSON.stringify(feedback.perVersion));
      assert.ok(Object.keys(feedback.drift).length > 0, 'the kind measures drift');

      // The report renders the kind's metrics by their labels.
      const report = new TextDecoder().decode(await store.getBytes(store.keyOf(s.runReport)));
      for (const spec of kind.metrics.specs) assert.ok(report.includes(spec.label), `the report names ${spec.label}`);
      assert.ok(report.includes(s.baselineLabel));
      // Every kind reports its primary metric per declared segment (fairness), and the report shows each table.
      assert.deepEqual(s.segments?.candidate.map((a) => a.attribute), kind.segments?.map((a) => a.name), 'every declared segment attribute is measured');
      for (const attribute of kind.segments ?? []) assert.ok(report.includes(attribute.label), `the report has the ${attribute.label} segment table`);

      // A served version is verified when it loads: one flipped byte in any of its files is refused by name.
      const manifest = await readVersionManifest(store, model, version);
      const files = ['model.json', 'weights.bin', ...Object.values(manifest.lineage.servingArtifacts)].map((file) => `${versionPrefix(model, version)}/${file}`);
      for (const key of files) {
        const original = await store.getBytes(key);
        const tampered = Uint8Array.from(original);
        tampered[Math.floor(tampered.length / 2)] ^= 0x01;
        await store.put(key, tampered);
        try {
          await assert.rejects(loadVersion(store, kind, model, version, { maxScoringBatch: 8, batchWindowMs: 0 }, log), (error: Error) => error instanceof IntegrityError && error.key === key, `a tampered ${key} is refused`);
        } finally {
          await store.put(key, original);
        }
      }
      (await loadVersion(store, kind, model, version, { maxScoringBatch: 8, batchWindowMs: 0 }, log)).retire();
    });
  });
}
