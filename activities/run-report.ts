/**
 * The human-readable report of a lifecycle run: `reports/<model>/runs/<workflowId>/report.md`
 * with its charts as SVG files beside it (training loss and validation NDCG per epoch,
 * offline metrics over runs, online metrics per served version). Markdown with separate
 * SVG files renders in any Markdown viewer, GitHub included, which strips SVG inlined in
 * Markdown. The evaluation's JSON record stays the machine-readable source; this page
 * presents it together with training, history, feedback and the search.
 */
import { servingModelName } from '../schemas/lifecycle-input';
import { readRunHistory } from './optimize';
import { lineChart, barChart } from './svg-charts';
import type { ObjectStore } from './storage/object-store';
import type { ModelJson } from '../ml/model-bundle';
import type { EpochReport } from '../ml/train';
import type { RankingMetrics } from '../ml/ranking';
import type { ArtifactRef } from '../schemas/artifacts';
import type { StepContext } from '../schemas/steps';
import type { LifecycleSummary } from '../workflows/lifecycle';

/** Runs shown in "metrics over runs". */
const HISTORY_RUNS = 30;

const fixed = (value: number | null | undefined, digits = 4) => (value === null || value === undefined ? '–' : value.toFixed(digits));
const percent = (value: number) => `${(value * 100).toFixed(2)}%`;
const table = (header: string[], rows: (string | number)[][]) =>
  [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
const shortTime = (iso: string | null) => (iso ? iso.slice(0, 16).replace('T', ' ') : '–');

export const runReportPrefix = (model: string, workflowId: string) => `reports/${model}/runs/${workflowId.replace(/[^A-Za-z0-9._-]/g, '_')}`;

function metricsTable(s: Omit<LifecycleSummary, 'runReport'>): string {
  const row = (name: string, m: RankingMetrics | null) => [name, fixed(m?.['hr@10']), fixed(m?.['ndcg@10']), fixed(m?.['hr@20']), fixed(m?.['ndcg@20'])];
  return table(['model', 'HR@10', 'NDCG@10', 'HR@20', 'NDCG@20'], [
    row(`new (${s.backend})`, s.metrics),
    row('popularity baseline', s.baseline),
    row(`champion ${s.championVersion ?? '(none)'}`, s.champion),
  ]);
}

export async function writeRunReport(store: ObjectStore, ctx: StepContext, s: Omit<LifecycleSummary, 'runReport'>, model: ArtifactRef): Promise<{ key: string; uri: string }> {
  const prefix = runReportPrefix(servingModelName(ctx.config), ctx.workflowId);
  const bundle = await store.getJson<ModelJson>(model.key);
  const epochs = (bundle.metadata.history ?? []) as EpochReport[];
  const runs = await readRunHistory(store, ctx, HISTORY_RUNS);
  const versions = Object.entries(s.feedback.perVersion).sort(([, a], [, b]) => a.firstSeen.localeCompare(b.firstSeen));
  const charts: Record<string, string> = {
    'training.svg': lineChart('Training: loss and validation NDCG@10 per epoch', epochs.map((e) => String(e.epoch)), [
      { name: 'loss', values: epochs.map((e) => e.loss), axis: 'left' },
      { name: 'validation NDCG@10', values: epochs.map((e) => e.validationNdcg10), axis: 'right' },
    ]),
    'runs.svg': lineChart('NDCG@10 on the test split, per run', runs.map((r) => (r.dataCutoff ?? r.startedAt).slice(5, 10)), [
      { name: 'new model', values: runs.map((r) => r.metrics['ndcg@10']), axis: 'left' },
      { name: 'popularity', values: runs.map((r) => r.baseline['ndcg@10']), axis: 'left' },
    ]),
  };
  if (versions.length > 0) {
    charts['online.svg'] = barChart('Online metrics per served version', versions.map(([v]) => v), [
      { name: 'hit rate', values: versions.map(([, m]) => m.hitRate) },
      { name: 'CTR', values: versions.map(([, m]) => m.ctr) },
    ]);
  }

  const { drift } = s.feedback;
  const search = s.optimize.search;
  const sections = [
    `# ${s.model}: run ${s.workflowId}`,
    table(['', ''], [
      ['started', ctx.startedAt],
      ['data cut-off', s.dataCutoff ?? 'all collected data'],
      ['decision', s.promoted ? `**promoted ${s.version}**` : `not promoted (champion stays ${s.championVersion ?? 'none'})`],
      ['hyperparameters', `${s.hyperparameters.source} (${s.hyperparameters.note})`],
      ['data', `${s.data.users} users, ${s.data.items} items, ${s.data.interactions} interactions`],
      ['retrain', s.retrain ? `started ${s.retrain.workflowId}: ${s.retrain.reasons.join('; ')}` : 'none'],
    ]),
    s.reasons.map((r) => `- ${r}`).join('\n'),
    '## Offline metrics (test split, full ranking)',
    metricsTable(s),
    '## Training',
    `${s.training.epochs} epochs (best ${s.training.bestEpoch}) on ${s.backend}, ${Math.round(s.training.samplesPerSecond)} samples/s${s.training.cached ? ', from the step cache' : ''}.`,
    '![training loss and validation NDCG@10 per epoch](training.svg)',
    '`' + JSON.stringify(s.hyperparameters.values) + '`',
    '## Metrics over runs',
    '![NDCG@10 per run](runs.svg)',
    table(['run', 'cut-off', 'NDCG@10', 'popularity', 'promoted', 'hyperparameters'], runs.slice(-10).map((r) => [
      r.workflowId, shortTime(r.dataCutoff), fixed(r.metrics['ndcg@10']), fixed(r.baseline['ndcg@10']), r.promoted ? r.version ?? '' : 'no', r.hyperparameters.source,
    ])),
    `## Online metrics per version (${shortTime(s.feedback.window.from)} to ${shortTime(s.feedback.window.to)})`,
    versions.length === 0
      ? 'No feedback in the window yet.'
      : [
          '![online metrics per version](online.svg)',
          table(['version', 'requests', 'impressions', 'CTR', 'add-to-cart', 'purchase', 'hit rate', 'unattributed outcomes'], versions.map(([v, m]) => [
            v, m.requests, m.impressions, percent(m.ctr), percent(m.addToCartRate), percent(m.purchaseRate), percent(m.hitRate), m.unattributedOutcomes,
          ])),
        ].join('\n\n'),
    '## Drift: training data vs recent traffic',
    table(['measure', 'PSI', 'threshold', 'sample'], [
      ['item popularity (outcomes)', fixed(drift.itemPopularity.psi, 3), drift.itemPopularity.threshold, drift.itemPopularity.sample],
      ['sequence length (served users)', fixed(drift.sequenceLength.psi, 3), drift.sequenceLength.threshold, drift.sequenceLength.sample],
    ]),
    s.feedback.alarms.length > 0 ? s.feedback.alarms.map((a) => `- **alarm**: ${a}`).join('\n') : 'No alarm.',
    '## Hyperparameter search',
    search
      ? [
          `${search.trials.length} trials, stopped: ${search.stoppedBy}; best: ${search.best ? `${search.best.candidate.id} ${JSON.stringify(search.best.candidate.params)}` : 'none'}${search.stored ? `, stored at ${search.stored}` : ''}.`,
          table(['rung', 'trial', 'epochs', 'values', 'validation NDCG@10', 'seconds'], search.trials.map((t) => [
            t.rung, t.candidate.id, t.epochs, `\`${JSON.stringify(t.candidate.params)}\``, t.error ? `failed: ${t.error}` : fixed(t.validationNdcg10), t.cached ? 'cached' : t.trainSeconds.toFixed(0),
          ])),
        ].join('\n\n')
      : 'Off for this run (`optimize.search.enabled`).',
  ];
  for (const [name, svg] of Object.entries(charts)) await store.put(`${prefix}/${name}`, svg, 'image/svg+xml');
  const markdown = `${sections.join('\n\n')}\n`;
  await store.put(`${prefix}/report.md`, markdown, 'text/markdown');
  return { key: `${prefix}/report.md`, uri: store.uri(`${prefix}/report.md`) };
}
