/**
 * The human-readable report of a lifecycle run: `reports/<model>/runs/<workflowId>/report.md`
 * with its charts as SVG files beside it (training loss and the validation metric per epoch,
 * the primary metric over runs, online metrics per served version). Every table and chart is
 * rendered from the kind's metric specs; a kind may add sections of its own. Markdown with separate
 * SVG files renders in any Markdown viewer, GitHub included, which strips SVG inlined in
 * Markdown. The evaluation's JSON record stays the machine-readable source; this page
 * presents it together with training, history, feedback and the search.
 */
import { servingModelName } from '../schemas/lifecycle-input';
import { readRunHistory } from './optimize';
import { lineChart, barChart } from './svg-charts';
import { formatMetric } from './model-kinds/registry';
import { disparity } from './fairness';
import { NoisyCounts } from './privacy/noisy-counts';
import { pseudonymiserFromEnv } from './privacy/pseudonyms';
import type { AnyModelKind } from './model-kinds/contract';
import type { ObjectStore } from './storage/object-store';
import type { ModelJson } from './storage/model-bundles';
import type { EpochReport } from '../ml/training-hooks';
import type { ArtifactRef } from '../schemas/artifacts';
import type { DataPrivacy, Metrics, StepContext } from '../schemas/steps';
import type { LifecycleSummary } from '../schemas/summary';

/** Runs shown in "metrics over runs". */
const HISTORY_RUNS = 30;

const fixed = (value: number | null | undefined, digits = 4) => (value === null || value === undefined ? '–' : value.toFixed(digits));
const table = (header: string[], rows: (string | number)[][]) =>
  [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
const shortTime = (iso: string | null) => (iso ? iso.slice(0, 16).replace('T', ' ') : '–');

export const runReportPrefix = (model: string, workflowId: string) => `reports/${model}/runs/${workflowId.replace(/[^A-Za-z0-9._-]/g, '_')}`;

function metricsTable(kind: AnyModelKind, s: Omit<LifecycleSummary, 'runReport'>): string {
  const row = (name: string, m: Metrics | null) => [name, ...kind.metrics.specs.map((spec) => formatMetric(spec, m?.[spec.name]))];
  return table(['model', ...kind.metrics.specs.map((spec) => (spec.name === s.primaryMetric ? `**${spec.label}**` : spec.label))], [
    row(`new (${s.backend})`, s.metrics),
    row(s.baselineLabel, s.baseline),
    row(`champion ${s.championVersion ?? '(none)'}`, s.champion),
  ]);
}

/** What the run's data holds of customers, said plainly (activities/privacy/). */
export function privacyStatement(privacy: DataPrivacy | undefined): string {
  if (!privacy) return 'not recorded (collected before storeloop recorded it)';
  const parts: string[] = [];
  if (privacy.pseudonymised.length > 0) parts.push(`ids pseudonymised with STORELOOP_PSEUDONYM_KEY (${privacy.pseudonymised.join(', ')}); ${privacy.rawFilesDeleted} raw file(s) deleted once collected`);
  if (privacy.inTheClear.length > 0) parts.push(`**ids stored as given**: STORELOOP_PSEUDONYM_KEY is not set (${privacy.inTheClear.join(', ')})`);
  if (privacy.masked.length > 0) parts.push(`texts stored with e-mails, phone, card and order numbers masked (${privacy.masked.join(', ')})`);
  return parts.length > 0 ? parts.join('; ') : 'no personal columns';
}

/** The new model's largest mean |attribution| inputs beside the champion's: what moved between versions. */
export function explanationSection(s: Pick<LifecycleSummary, 'explanations' | 'championVersion'>): string {
  const { candidate, champion } = s.explanations;
  const heading = '## Global explanations (test-split sample)';
  if (!candidate) return `${heading}\n\nThis kind computes no global explanation.`;
  const championRank = new Map(champion?.top.map((t, i) => [t.input, { rank: i + 1, meanAbs: t.meanAbs }]) ?? []);
  const moved = (input: string, rank: number) => {
    const before = championRank.get(input);
    if (!champion) return '–';
    if (!before) return 'new in the top';
    return before.rank === rank ? '=' : before.rank > rank ? `up from ${before.rank}` : `down from ${before.rank}`;
  };
  const rows = candidate.top.map((t, i) => [i + 1, `\`${t.input.replace(/[|`]/g, ' ')}\``, fixed(t.meanAbs, 4), fixed(championRank.get(t.input)?.meanAbs, 4), moved(t.input, i + 1)]);
  const left = champion ? champion.top.filter((t) => !candidate.top.some((c) => c.input === t.input)).map((t) => `\`${t.input}\``) : [];
  return [
    heading,
    `Mean |attribution| per case over ${candidate.cases} test cases (${candidate.method}, attributions of the ${candidate.of}); ${champion ? `the champion ${s.championVersion ?? ''} explained on the same cases` : 'no champion explanation to compare with'}.`,
    table(['rank', 'input', 'new model', 'champion', 'vs champion'], rows),
    left.length > 0 ? `Left the top ${candidate.top.length} since the champion: ${left.join(', ')}.` : '',
  ].filter(Boolean).join('\n\n');
}

/** A count as the report shows it: exact, or with differential-privacy noise (`report.epsilon`). */
export type ShownCount = (name: string, value: number) => number;
const exactCount: ShownCount = (_name, value) => value;

/** The report's counts, noised when the input asks for it (activities/privacy/noisy-counts.ts). */
function reportCounts(ctx: StepContext): { shown: ShownCount; statement: () => string | null } {
  const { epsilon } = ctx.config.report;
  if (epsilon === undefined) return { shown: exactCount, statement: () => null };
  const noisy = new NoisyCounts(epsilon, pseudonymiserFromEnv(), ctx.workflowId);
  return {
    shown: (name, value) => noisy.count(name, value),
    statement: () =>
      `Differential privacy: the ${noisy.released} counts in this report (rows, the data statistics that are whole numbers, segment cases, requests) carry discrete Laplace noise, ε = ${epsilon} each, so a row counted in all of them is protected at ε = ${+(noisy.released * epsilon).toFixed(3)}. ` +
      'Metrics, ratios and shares are exact, as are the evaluation record, the workflow result, the CLI and the serving metrics; which segments are marked * follows the exact counts.',
  };
}

/** One table per attribute: each segment's cases, metric, ratio and difference to the best segment, candidate vs champion. */
export function segmentTables(kind: AnyModelKind, s: Omit<LifecycleSummary, 'runReport'>, shown: ShownCount = exactCount): string {
  const report = s.segments;
  if (!report || report.candidate.length === 0) return `${kind.name} declares no segments.`;
  const spec = kind.metrics.specs.find((m) => m.name === s.primaryMetric)!;
  const note = `Difference: how far a segment is behind the best one in ${spec.label} (${spec.direction} is better); ratio: its ${spec.label} over the best's. Segments under ${report.minCases} cases are shown, marked *, and left out of the disparity.`;
  const tables = report.candidate.map((attribute) => {
    const ours = disparity(spec, attribute, report.minCases);
    const championAttribute = report.champion?.find((a) => a.attribute === attribute.attribute);
    const theirs = championAttribute ? disparity(spec, championAttribute, report.minCases) : null;
    const extra = [...new Set(attribute.segments.flatMap((seg) => Object.keys(seg.metrics)))].filter((name) => name !== spec.name);
    const rows = ours.segments.map((seg) => {
      const champ = theirs?.segments.find((c) => c.segment === seg.segment);
      const metrics = attribute.segments.find((a) => a.segment === seg.segment)!.metrics;
      // One name for one count: the champion is scored on the same cases, and a count shown twice must not get two draws of noise.
      const cases = `cases of ${attribute.attribute} = ${seg.segment}`;
      return [
        seg.included ? seg.segment : `${seg.segment} *`, shown(cases, seg.cases), formatMetric(spec, seg.value), fixed(seg.ratio, 3), fixed(seg.difference),
        champ ? shown(champ.cases === seg.cases ? cases : `champion ${cases}`, champ.cases) : '–', formatMetric(spec, champ?.value), fixed(champ?.ratio, 3), fixed(champ?.difference),
        ...extra.map((name) => fixed(metrics[name])),
      ];
    });
    const worst = (w: typeof ours.worst) => (w ? `${w.segment} (${fixed(w.difference)})` : '–');
    return [
      `### By ${attribute.label}`,
      `Worst: new ${worst(ours.worst)}; champion ${theirs ? worst(theirs.worst) : '(none)'}.`,
      table(['segment', 'cases', spec.label, 'ratio', 'difference', 'champion cases', `champion ${spec.label}`, 'champion ratio', 'champion difference', ...extra], rows),
    ].join('\n\n');
  });
  return [note, ...tables].join('\n\n');
}

export async function writeRunReport(store: ObjectStore, kind: AnyModelKind, ctx: StepContext, s: Omit<LifecycleSummary, 'runReport'>, model: ArtifactRef): Promise<{ key: string; uri: string }> {
  const prefix = runReportPrefix(servingModelName(ctx.config), ctx.workflowId);
  const bundle = await store.getJson<ModelJson>(model.key);
  const epochs = (bundle.metadata.history ?? []) as EpochReport[];
  const runs = await readRunHistory(store, servingModelName(ctx.config), HISTORY_RUNS);
  const versions = Object.entries(s.feedback.perVersion).sort(([, a], [, b]) => a.firstSeen.localeCompare(b.firstSeen));
  const primary = kind.metrics.specs.find((m) => m.name === s.primaryMetric)!;
  const validation = kind.metrics.validation;
  const online = kind.feedback.online;
  const ratioOnline = online.filter((m) => m.format !== 'number');
  const charts: Record<string, string> = {
    'training.svg': lineChart(`Training: loss and ${validation.label} per epoch`, epochs.map((e) => String(e.epoch)), [
      { name: 'loss', values: epochs.map((e) => e.loss), axis: 'left' },
      { name: validation.label, values: epochs.map((e) => e.validation), axis: 'right' },
    ]),
    'runs.svg': lineChart(`${primary.label} on the test split, per run`, runs.map((r) => (r.dataCutoff ?? r.startedAt).slice(5, 10)), [
      { name: 'new model', values: runs.map((r) => r.metrics[primary.name]), axis: 'left' },
      { name: s.baselineLabel, values: runs.map((r) => r.baseline[primary.name]), axis: 'left' },
    ]),
  };
  if (versions.length > 0) {
    charts['online.svg'] = barChart('Online metrics per served version', versions.map(([v]) => v), ratioOnline.slice(0, 2).map((m) => ({ name: m.label, values: versions.map(([, o]) => o.metrics[m.name] ?? 0) })));
  }

  const { drift } = s.feedback;
  const search = s.optimize.search;
  const { shown, statement } = reportCounts(ctx);
  const stats = Object.entries(s.data.stats).map(([k, v]) => `${k} ${Number.isInteger(v) && v >= 0 ? shown(`data statistic ${k}`, v) : v}`);
  const segments = segmentTables(kind, s, shown);
  const sections = [
    `# ${s.model}: run ${s.workflowId}`,
    table(['', ''], [
      ['started', ctx.startedAt],
      ['data cut-off', s.dataCutoff ?? 'all collected data'],
      ['decision', s.promoted ? `**promoted ${s.version}**` : `not promoted (champion stays ${s.championVersion ?? 'none'})`],
      ['hyperparameters', `${s.hyperparameters.source} (${s.hyperparameters.note})`],
      ['data', `${shown('rows collected', s.data.totalRows)} rows collected (${shown('rows quarantined', s.data.quarantinedRows)} quarantined); ${stats.join(', ')}`],
      ['personal data', privacyStatement(s.data.privacy)],
      ['retrain', s.retrain ? `started ${s.retrain.workflowId}: ${s.retrain.reasons.join('; ')}` : 'none'],
    ]),
    s.reasons.map((r) => `- ${r}`).join('\n'),
    `## Offline metrics (test split; **${primary.label}** decides, ${primary.direction} is better)`,
    metricsTable(kind, s),
    explanationSection(s),
    '## Segments (fairness and bias, test split)',
    segments,
    '## Training',
    `${s.training.epochs} epochs (best ${s.training.bestEpoch}) on ${s.backend}, ${Math.round(s.training.samplesPerSecond)} samples/s${s.training.cached ? ', from the step cache' : ''}.`,
    `![training loss and ${validation.label} per epoch](training.svg)`,
    '`' + JSON.stringify(s.hyperparameters.values) + '`',
    '## Metrics over runs',
    `![${primary.label} per run](runs.svg)`,
    table(['run', 'cut-off', primary.label, s.baselineLabel, 'promoted', 'hyperparameters'], runs.slice(-10).map((r) => [
      r.workflowId, shortTime(r.dataCutoff), formatMetric(primary, r.metrics[primary.name]), formatMetric(primary, r.baseline[primary.name]), r.promoted ? r.version ?? '' : 'no', r.hyperparameters.source,
    ])),
    `## Online metrics per version (${shortTime(s.feedback.window.from)} to ${shortTime(s.feedback.window.to)})`,
    versions.length === 0
      ? 'No feedback in the window yet.'
      : [
          '![online metrics per version](online.svg)',
          table(['version', 'requests', ...online.map((m) => m.label)], versions.map(([v, o]) => [v, shown(`requests of ${v}`, o.requests), ...online.map((m) => formatMetric(m, o.metrics[m.name]))])),
        ].join('\n\n'),
    '## Drift: training data vs recent traffic',
    table(['measure', 'PSI', 'threshold', 'sample'], Object.values(drift).map((d) => [d.label, fixed(d.psi, 3), d.threshold, d.sample])),
    s.feedback.alarms.length > 0 ? s.feedback.alarms.map((a) => `- **alarm**: ${a}`).join('\n') : 'No alarm.',
    '## Hyperparameter search',
    search
      ? [
          `${search.trials.length} trials, stopped: ${search.stoppedBy}; best: ${search.best ? `${search.best.candidate.id} ${JSON.stringify(search.best.candidate.params)}` : 'none'}${search.stored ? `, stored at ${search.stored}` : ''}.`,
          table(['rung', 'trial', 'epochs', 'values', validation.label, 'seconds'], search.trials.map((t) => [
            t.rung, t.candidate.id, t.epochs, `\`${JSON.stringify(t.candidate.params)}\``, t.error ? `failed: ${t.error}` : fixed(t.validation), t.cached ? 'cached' : t.trainSeconds.toFixed(0),
          ])),
        ].join('\n\n')
      : 'Off for this run (`optimize.search.enabled`).',
  ];
  sections.push(...(kind.reportSections?.(s, shown) ?? []));
  // Last, once every count is drawn: it says how many there are.
  const privacy = statement();
  if (privacy) sections.splice(2, 0, privacy);
  for (const [name, svg] of Object.entries(charts)) await store.put(`${prefix}/${name}`, svg, 'image/svg+xml');
  const markdown = `${sections.join('\n\n')}\n`;
  await store.put(`${prefix}/report.md`, markdown, 'text/markdown');
  return { key: `${prefix}/report.md`, uri: store.uri(`${prefix}/report.md`) };
}
