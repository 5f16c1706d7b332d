/**
 * The console's HTML, rendered on the server from the registry and Temporal: no client
 * framework, one small stylesheet, Chart.js (served from node_modules) for the charts.
 * Every interpolated value goes through escape-html.
 */
import escapeHtml from 'escape-html';
import type { ChampionAlias, ModelOverview, VersionManifest } from '../activities/registry/serving-registry';
import type { MetricSpec } from '../activities/model-kinds/contract';
import type { LifecycleProgress } from '../schemas/progress';
import type { RunRecord } from '../activities/optimize';

export interface RunRow {
  workflowId: string;
  runId: string;
  status: string;
  started: string;
  closed: string | null;
  /** The run's static summary (kind, dataset, trigger); listing does not return it. */
  summary: string | null;
}

export interface ConsoleLinks {
  temporalRun(workflowId: string, runId: string): string;
}

const e = (value: unknown): string => escapeHtml(value === null || value === undefined ? '' : String(value));

const STYLE = `
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1b1f24;background:#f6f7f9}
header{background:#1b1f24;color:#fff;padding:10px 24px}header a{color:#fff;margin-right:18px;text-decoration:none;font-weight:600}
main{padding:16px 24px;max-width:1200px}h1{font-size:20px}h2{font-size:16px;margin-top:28px}
table{border-collapse:collapse;background:#fff;width:100%;margin:8px 0}th,td{padding:5px 9px;border-bottom:1px solid #e3e6ea;text-align:left;vertical-align:top}
td.num{text-align:right;font-variant-numeric:tabular-nums}tr.live{background:#eef8ee}
form.inline{display:inline-flex;gap:6px;align-items:center;margin:0}input,button{font:inherit;padding:3px 6px}
.notice{padding:8px 12px;border-radius:4px;margin:8px 0}.ok{background:#e5f6e5}.refused{background:#fde8e8}
.muted{color:#68707a}canvas{background:#fff;max-height:280px}
`;

export function layout(title: string, body: string, notice?: { ok: boolean; text: string }): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${e(title)} · storeloop</title>
<style>${STYLE}</style><script src="/static/chart.umd.js"></script></head>
<body><header><a href="/">storeloop</a><a href="/">Models</a><a href="/runs">Runs</a></header><main>
${notice ? `<div class="notice ${notice.ok ? 'ok' : 'refused'}" role="status">${e(notice.text)}</div>` : ''}
<h1>${e(title)}</h1>${body}</main></body></html>`;
}

function tableOf(header: string[], rows: string[][], rowClass: (i: number) => string = () => ''): string {
  if (rows.length === 0) return '<p class="muted">(none)</p>';
  return `<table><thead><tr>${header.map((h) => `<th>${e(h)}</th>`).join('')}</tr></thead><tbody>${rows.map((r, i) => `<tr class="${rowClass(i)}">${r.join('')}</tr>`).join('')}</tbody></table>`;
}

const cell = (value: unknown) => `<td>${e(value)}</td>`;
const numberCell = (value: string) => `<td class="num">${e(value)}</td>`;

/** The fields every action form carries: who, why, the token, and what the page saw. */
function actionFields(expectedChampion: string | null): string {
  return `<input name="by" placeholder="your name" required size="10"><input name="reason" placeholder="reason" required size="22">
<input name="token" type="password" placeholder="operator token" required size="12"><input type="hidden" name="expectedChampion" value="${e(expectedChampion ?? '')}">`;
}

export function modelsPage(models: ModelOverview[], runs: RunRow[], links: ConsoleLinks, notice?: { ok: boolean; text: string }): string {
  const rows = models.map((m) => [
    `<td><a href="/models/${encodeURIComponent(m.model)}">${e(m.model)}</a></td>`,
    cell(m.kind), cell(m.champion ?? '(none)'), cell(m.metric), numberCell(m.value === null ? '' : m.value.toFixed(4)), cell(m.since), cell(m.by), numberCell(String(m.versions)),
  ]);
  return layout('Models', tableOf(['model', 'kind', 'champion', 'primary metric', 'value', 'since', 'by', 'versions'], rows) + `<h2>Recent runs</h2>${runsTable(runs.slice(0, 10), links)}`, notice);
}

export function runsTable(runs: RunRow[], links: ConsoleLinks): string {
  return tableOf(
    ['run', 'status', 'started', 'closed', 'Temporal UI'],
    runs.map((r) => [
      `<td><a href="/runs/${encodeURIComponent(r.workflowId)}">${e(r.workflowId)}</a></td>`,
      cell(r.status), cell(r.started), cell(r.closed),
      `<td><a href="${e(links.temporalRun(r.workflowId, r.runId))}">open</a></td>`,
    ]),
  );
}

export interface ModelPageData {
  model: string;
  champion: ChampionAlias | null;
  versions: VersionManifest[];
  history: ChampionAlias[];
  specs: readonly MetricSpec[];
  primaryMetric: string;
  runs: RunRecord[];
  format: (spec: MetricSpec, value: number | undefined) => string;
}

export function modelPage(data: ModelPageData, links: ConsoleLinks, notice?: { ok: boolean; text: string }): string {
  const live = data.champion?.version ?? null;
  const versions = [...data.versions].sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  const versionRows = versions.map((v) => [
    cell(v.version),
    ...data.specs.map((spec) => numberCell(data.format(spec, v.metrics[spec.name]))),
    cell(v.createdAt),
    `<td><a href="${e(links.temporalRun(v.lineage.workflowId, v.lineage.runId))}">${e(v.lineage.workflowId)}</a><br><span class="muted">data ${e(v.lineage.snapshot.split('/').pop())} · code ${e(v.lineage.codeVersion)} · ${e(v.lineage.backend)}</span></td>`,
    v.version === live
      ? '<td>champion</td>'
      : `<td><form class="inline" method="post" action="/models/${encodeURIComponent(data.model)}/promote"><input type="hidden" name="version" value="${e(v.version)}">${actionFields(live)}<button>Promote</button></form></td>`,
  ]);
  const primary = data.specs.find((s) => s.name === data.primaryMetric) ?? data.specs[0];
  const chart = {
    versions: versions.map((v) => v.version.slice(1, 16)),
    versionValues: versions.map((v) => v.metrics[primary.name] ?? null),
    runs: data.runs.map((r) => r.startedAt.slice(0, 16)),
    runValues: data.runs.map((r) => r.metrics[primary.name] ?? null),
  };
  const body = `
<p>Champion: <strong>${e(live ?? '(none)')}</strong>${data.champion ? ` since ${e(data.champion.promotedAt)}, ${e(data.champion.action)} by ${e(data.champion.promotedBy)}: ${e(data.champion.reason)}` : ''}</p>
${live ? `<form class="inline" method="post" action="/models/${encodeURIComponent(data.model)}/rollback">${actionFields(live)}<button>Roll back</button></form>` : ''}
<h2>Retrain and schedule</h2>
<form class="inline" method="post" action="/models/${encodeURIComponent(data.model)}/retrain">${actionFields(live)}
<label><input type="checkbox" name="force"> force</label><input name="hyperparameters" placeholder='hyperparameters JSON, e.g. {"epochs": 20}' size="28"><button>Retrain now</button></form>
${['pause', 'unpause', 'trigger'].map((action) => `<form class="inline" method="post" action="/models/${encodeURIComponent(data.model)}/schedule/${action}">${actionFields(live)}<button>${action} nightly schedule</button></form>`).join('<br>')}
<h2>${e(primary.label)} per version and per run</h2>
<div style="display:flex;gap:16px"><canvas id="perVersion"></canvas><canvas id="perRun"></canvas></div>
<script>
const data = ${JSON.stringify(chart).replace(/</g, '\\u003c')};
const line = (id, labels, values, label) => new Chart(document.getElementById(id), { type: 'line', data: { labels, datasets: [{ label, data: values, spanGaps: true }] }, options: { animation: false } });
line('perVersion', data.versions, data.versionValues, ${JSON.stringify(`${primary.label} by version`)});
line('perRun', data.runs, data.runValues, ${JSON.stringify(`${primary.label} by run (candidate)`)});
</script>
<h2>Versions</h2>
${tableOf(['version', ...data.specs.map((s) => s.label), 'created', 'lineage', ''], versionRows, (i) => (versions[i].version === live ? 'live' : ''))}
<h2>Runs: online metrics and drift</h2>
${tableOf(['started', data.specs.find((s) => s.name === data.primaryMetric)?.label ?? data.primaryMetric, 'promoted', 'online (per served version)', 'drift (PSI)'], [...data.runs].reverse().map((r) => [
    cell(r.startedAt), numberCell(r.metrics[data.primaryMetric]?.toFixed(4) ?? ''), cell(r.promoted ? r.version : ''),
    cell(Object.entries(r.online).map(([version, o]) => `${version}: ${Object.entries(o.metrics).map(([name, value]) => `${name} ${Number(value).toFixed(3)}`).join(', ')}`).join('; ')),
    cell(Object.entries(r.drift).map(([name, psi]) => `${name} ${psi === null ? '-' : psi.toFixed(3)}`).join(', ')),
  ]))}
<h2>Alias history</h2>
${tableOf(['at', 'action', 'version', 'previous', 'by', 'reason'], data.history.map((h) => [h.promotedAt, h.action, h.version, h.previous ?? '', h.promotedBy, h.reason].map(cell)))}`;
  return layout(data.model, body, notice);
}

export function runPage(run: RunRow, progress: LifecycleProgress | null, report: string | null, links: ConsoleLinks, notice?: { ok: boolean; text: string }): string {
  const steps = progress?.steps ?? [];
  const waiting = progress?.approval?.status === 'waiting';
  const body = `
<p>${e(run.summary ?? '')} · <strong>${e(run.status)}</strong> · started ${e(run.started)} · <a href="${e(links.temporalRun(run.workflowId, run.runId))}">open in the Temporal UI</a></p>
${waiting ? `<p>Waiting for approval until ${e(progress!.approval!.deadline)}</p>
<form class="inline" method="post" action="/runs/${encodeURIComponent(run.workflowId)}/approve">${actionFields(null)}<button name="decision" value="approve">Approve</button><button name="decision" value="reject">Reject</button></form>` : ''}
<h2>Steps</h2>
${tableOf(['step', 'status', 'seconds', 'rows', 'detail'], steps.map((s) => [cell(s.name), cell(s.status), numberCell(s.durationMs === null ? '' : (s.durationMs / 1000).toFixed(1)), numberCell(s.rows === undefined ? '' : String(s.rows)), cell(s.detail)]))}
${report ? `<h2>Run report</h2><div class="report">${report}</div>` : ''}`;
  return layout(run.workflowId, body, notice);
}
