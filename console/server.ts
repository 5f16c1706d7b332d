/**
 * The operator's web console (`npm run console`): every model of every kind with its
 * champion, versions, lineage and alias history; recent runs with live progress and their
 * reports; and the actions of the CLI (promote, roll back, approve or reject, retrain,
 * pause or trigger the nightly schedule) through the same registry functions and
 * conditional writes. Pages are open to whoever reaches the address (localhost by default);
 * every action needs the operator token (STORELOOP_CONSOLE_TOKEN) and is recorded with
 * who and why. A page that saw an older champion cannot overwrite a newer change.
 */
import { timingSafeEqual } from 'node:crypto';
import { createReadStream } from 'node:fs';
import path from 'node:path';
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import formBody from '@fastify/formbody';
import { marked } from 'marked';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { z } from 'zod';
import { applyAliasChange, listVersions, modelOverviews, planPromotion, planRollback, readChampion, readHistory, type AliasChange } from '../activities/registry/serving-registry';
import { readRunHistory } from '../activities/optimize';
import { formatMetric, KIND_NAMES, kindOf } from '../activities/model-kinds/registry';
import { assertSafeKeySegment, type ObjectStore } from '../activities/storage/object-store';
import { parseModelName, parseLifecycleInput } from '../schemas/lifecycle-input';
import { approvalUpdate, progressQuery, type LifecycleProgress } from '../workflows/progress';
import { scheduleHandle, triggerSchedule } from '../infra/schedules';
import { startLifecycle, workflowIdFor } from '../cli/local-run';
import { PROJECT_ROOT, type StoreloopConfig } from '../infra/config';
import type { Logger } from '../infra/logger';
import type { LifecycleSummary } from '../schemas/summary';
import { modelPage, modelsPage, runPage, layout, runsTable, type ConsoleLinks, type RunRow } from './pages';

export interface ConsoleOptions {
  store: ObjectStore;
  client: Client;
  config: StoreloopConfig;
  /** Actions are refused without it. */
  token?: string;
  host?: string;
  port?: number;
  log: Logger;
}

export interface ConsoleServer {
  url: string;
  close(): Promise<void>;
}

/** Every action form: who, why, the token, and the champion the page showed (for promote and rollback). */
const ActionForm = z.object({
  by: z.string().trim().min(1, 'say who you are').max(100),
  reason: z.string().trim().min(1, 'say why').max(500),
  token: z.string(),
  expectedChampion: z.string().optional(),
  version: z.string().optional(),
  decision: z.enum(['approve', 'reject']).optional(),
  force: z.string().optional(),
  hyperparameters: z.string().optional(),
});
type Action = z.infer<typeof ActionForm>;

class ActionRefused extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function sameToken(given: string, expected: string): boolean {
  const [a, b] = [Buffer.from(given), Buffer.from(expected)];
  return a.length === b.length && timingSafeEqual(a, b);
}

const RECENT_RUNS = 30;
/** Chart.js's browser build, served as is from the installed package. */
const CHART_JS = path.join(PROJECT_ROOT, 'node_modules', 'chart.js', 'dist', 'chart.umd.js');

export async function startConsole(options: ConsoleOptions): Promise<ConsoleServer> {
  const { store, client, config, log } = options;
  const { uiUrl, namespace } = config.temporal;
  const links: ConsoleLinks = { temporalRun: (workflowId, runId) => `${uiUrl}/namespaces/${namespace}/workflows/${encodeURIComponent(workflowId)}/${runId}/history` };
  const app = Fastify({ loggerInstance: log });
  await app.register(formBody);

  async function recentRuns(): Promise<RunRow[]> {
    const rows: RunRow[] = [];
    for await (const run of client.workflow.list({ query: "WorkflowType = 'modelLifecycle'" })) {
      rows.push({ workflowId: run.workflowId, runId: run.runId, status: run.status.name, started: run.startTime.toISOString(), closed: run.closeTime?.toISOString() ?? null, summary: null });
      if (rows.length >= RECENT_RUNS) break;
    }
    return rows;
  }

  /** Reads the form, checks the token; a refusal is shown on the page it came from. */
  function authorise(request: FastifyRequest): Action {
    const parsed = ActionForm.safeParse(request.body);
    if (!parsed.success) throw new ActionRefused(400, `refused: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    if (!options.token) throw new ActionRefused(403, 'refused: actions are off; start the console with STORELOOP_CONSOLE_TOKEN set');
    if (!sameToken(parsed.data.token, options.token)) throw new ActionRefused(403, 'refused: wrong operator token');
    return parsed.data;
  }

  /** A page showed `expected` as the champion: if it changed since, the change is refused rather than applied over it. */
  async function checkedAliasChange(model: string, form: Action, plan: () => Promise<AliasChange>) {
    const live = await readChampion(store, model);
    if ((live?.alias.version ?? '') !== (form.expectedChampion ?? '')) {
      throw new ActionRefused(409, `refused: the champion changed since this page was loaded (now ${live?.alias.version ?? 'none'}, by ${live?.alias.promotedBy ?? '-'}); reload and decide again`);
    }
    return applyAliasChange(store, await plan()); // the conditional write still guards the race after the check
  }

  function modelName(request: FastifyRequest<{ Params: { model: string } }>): string {
    const model = assertSafeKeySegment(request.params.model, 'model');
    parseModelName(model, KIND_NAMES);
    return model;
  }

  async function renderModel(model: string, notice?: { ok: boolean; text: string }): Promise<string> {
    const kind = kindOf(parseModelName(model, KIND_NAMES).kind);
    const [champion, versions, history, runs] = await Promise.all([readChampion(store, model), listVersions(store, model), readHistory(store, model), readRunHistory(store, model, 50)]);
    return modelPage({ model, champion: champion?.alias ?? null, versions, history, runs, specs: kind.metrics.specs, primaryMetric: kind.metrics.primary, format: formatMetric }, links, notice);
  }

  async function renderRun(workflowId: string, notice?: { ok: boolean; text: string }): Promise<string> {
    const handle = client.workflow.getHandle(workflowId);
    const described = await handle.describe();
    const run: RunRow = { workflowId, runId: described.runId, status: described.status.name, started: described.startTime.toISOString(), closed: described.closeTime?.toISOString() ?? null, summary: (await described.staticSummary()) ?? null };
    let progress: LifecycleProgress | null = null;
    let report: string | null = null;
    if (run.status === 'COMPLETED') {
      const summary = (await handle.result()) as LifecycleSummary;
      progress = { kind: summary.kind, currentStep: null, steps: summary.steps, training: null, approval: summary.approval };
      const key = summary.runReport.replace(/^s3:\/\/[^/]+\//, '');
      const markdown = Buffer.from(await store.getBytes(key)).toString('utf8');
      // Chart links in the report are relative to its folder; the console serves that folder.
      report = (await marked.parse(markdown)).replace(/src="([a-z0-9.-]+\.svg)"/g, `src="/runs/${encodeURIComponent(workflowId)}/report/$1"`);
    } else if (run.status === 'RUNNING') {
      progress = await handle.query(progressQuery).catch(() => null);
    }
    return runPage(run, progress, report, links, notice);
  }

  const html = (reply: FastifyReply, body: string, status = 200) => reply.status(status).type('text/html; charset=utf-8').send(body);
  const refusal = (error: unknown) => (error instanceof ActionRefused ? error : new ActionRefused(409, `refused: ${(error as Error).message}`));

  app.get('/static/chart.umd.js', (_request, reply) => reply.type('application/javascript').send(createReadStream(CHART_JS)));
  app.get('/', async (_request, reply) => html(reply, modelsPage(await modelOverviews(store), await recentRuns(), links)));
  app.get('/runs', async (_request, reply) => html(reply, layout('Runs', runsTable(await recentRuns(), links))));

  app.get<{ Params: { model: string } }>('/models/:model', async (request, reply) => html(reply, await renderModel(modelName(request))));
  /** An action on a model: its outcome, or why it was refused, is shown on the model's page. */
  async function modelAction(request: FastifyRequest<{ Params: { model: string } }>, reply: FastifyReply, act: (model: string, form: Action) => Promise<string>) {
    const model = modelName(request);
    try {
      const done = await act(model, authorise(request));
      return html(reply, await renderModel(model, { ok: true, text: done }));
    } catch (error) {
      const refused = refusal(error);
      return html(reply, await renderModel(model, { ok: false, text: refused.message }), refused.status);
    }
  }

  app.post<{ Params: { model: string } }>('/models/:model/promote', (request, reply) =>
    modelAction(request, reply, async (model, form) => {
      if (!form.version) throw new ActionRefused(400, 'refused: version: required');
      const alias = await checkedAliasChange(model, form, () => planPromotion(store, model, form.version!, { by: `${form.by} (console)`, reason: form.reason }));
      return `${alias.version} is the champion now (was ${alias.previous ?? 'none'})`;
    }),
  );
  app.post<{ Params: { model: string } }>('/models/:model/rollback', (request, reply) =>
    modelAction(request, reply, async (model, form) => {
      const alias = await checkedAliasChange(model, form, () => planRollback(store, model, { by: `${form.by} (console)`, reason: form.reason }));
      return `rolled back: ${alias.version} is the champion again`;
    }),
  );
  app.post<{ Params: { model: string } }>('/models/:model/retrain', async (request, reply) => {
    const model = modelName(request);
    try {
      const form = authorise(request);
      const { dataset, kind } = parseModelName(model, KIND_NAMES);
      const input = { dataset, kind, ...(form.force === 'on' ? { force: true } : {}), ...(form.hyperparameters ? { hyperparameters: JSON.parse(form.hyperparameters) as Record<string, unknown> } : {}) };
      parseLifecycleInput(input);
      const workflowId = workflowIdFor(input);
      await startLifecycle(client, config, input, workflowId, `the console (${form.by}: ${form.reason})`);
      return reply.redirect(`/runs/${encodeURIComponent(workflowId)}`, 303);
    } catch (error) {
      const refused = refusal(error);
      return html(reply, await renderModel(model, { ok: false, text: refused.message }), refused.status);
    }
  });
  app.post<{ Params: { model: string; action: string } }>('/models/:model/schedule/:action', (request, reply) =>
    modelAction(request, reply, async (model, form) => {
      const { action } = request.params;
      const note = `${form.by} (console): ${form.reason}`;
      if (action === 'pause') await scheduleHandle(client, model).pause(note);
      else if (action === 'unpause') await scheduleHandle(client, model).unpause(note);
      else if (action === 'trigger') await triggerSchedule(client, model);
      else throw new ActionRefused(404, `refused: no schedule action ${action}`);
      return `schedule of ${model}: ${action} done`;
    }),
  );

  app.get<{ Params: { workflowId: string } }>('/runs/:workflowId', async (request, reply) => {
    try {
      return html(reply, await renderRun(request.params.workflowId));
    } catch (error) {
      if (error instanceof WorkflowNotFoundError) return html(reply, layout('Not found', `<p>No run ${request.params.workflowId.replace(/[<>&"]/g, '')}.</p>`), 404);
      throw error;
    }
  });
  app.post<{ Params: { workflowId: string } }>('/runs/:workflowId/approve', async (request, reply) => {
    const { workflowId } = request.params;
    try {
      const form = authorise(request);
      const approve = form.decision !== 'reject';
      await client.workflow.getHandle(workflowId).executeUpdate(approvalUpdate, { args: [{ approve, by: `${form.by} (console)`, reason: form.reason }] });
      return html(reply, await renderRun(workflowId, { ok: true, text: approve ? 'approved: the run deploys its model' : 'rejected: the champion stays' }));
    } catch (error) {
      const refused = refusal(error);
      return html(reply, await renderRun(workflowId, { ok: false, text: refused.message }), refused.status);
    }
  });
  app.get<{ Params: { workflowId: string; file: string } }>('/runs/:workflowId/report/:file', async (request, reply) => {
    const { workflowId, file } = request.params;
    if (!/^[a-z0-9-]+\.svg$/.test(file)) return reply.status(404).send();
    const summary = (await client.workflow.getHandle(workflowId).result()) as LifecycleSummary;
    const folder = summary.runReport.replace(/^s3:\/\/[^/]+\//, '').replace(/report\.md$/, '');
    return reply.type('image/svg+xml').send(Buffer.from(await store.getBytes(`${folder}${file}`)));
  });

  await app.listen({ host: options.host ?? '127.0.0.1', port: options.port ?? 0 });
  const address = app.server.address();
  const url = typeof address === 'string' ? address : `http://${address?.address}:${address?.port}`;
  log.info({ url, actions: options.token ? 'on' : 'off (no STORELOOP_CONSOLE_TOKEN)' }, 'console');
  return { url, close: () => app.close() };
}
