/**
 * Two small chart kinds for the run report, written as SVG by hand: a report needs a line
 * chart with up to two y-axes and a grouped bar chart, which is a few dozen lines here
 * against a charting library with a DOM or canvas dependency on the worker.
 */
const WIDTH = 640;
const HEIGHT = 260;
const MARGIN = { top: 36, right: 56, bottom: 36, left: 56 };
const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e'];
const PLOT_W = WIDTH - MARGIN.left - MARGIN.right;
const PLOT_H = HEIGHT - MARGIN.top - MARGIN.bottom;

const escape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const label = (value: number) => (Math.abs(value) >= 100 ? value.toFixed(0) : Math.abs(value) >= 1 ? value.toFixed(2) : value.toFixed(3));

function frame(title: string, body: string[], legend: string[]): string {
  const keys = legend.map((name, i) => {
    const x = MARGIN.left + i * 150;
    return `<rect x="${x}" y="${HEIGHT - 14}" width="10" height="10" fill="${COLORS[i]}"/><text x="${x + 14}" y="${HEIGHT - 5}">${escape(name)}</text>`;
  });
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="11">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`,
    `<text x="${WIDTH / 2}" y="18" text-anchor="middle" font-size="13">${escape(title)}</text>`,
    `<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${PLOT_W}" height="${PLOT_H}" fill="none" stroke="#ccc"/>`,
    ...body,
    ...keys,
    '</svg>\n',
  ].join('\n');
}

/** Value range with a little headroom; a flat series still gets a visible range. */
function range(values: number[]): [number, number] {
  const finite = values.filter(Number.isFinite);
  if (finite.length === 0) return [0, 1];
  const lo = Math.min(0, ...finite);
  const hi = Math.max(...finite);
  return [lo, hi > lo ? hi * 1.05 : lo + 1];
}

function xLabels(labels: string[], x: (i: number) => number): string[] {
  const every = Math.max(1, Math.ceil(labels.length / 12));
  return labels.map((text, i) => (i % every === 0 ? `<text x="${x(i).toFixed(1)}" y="${MARGIN.top + PLOT_H + 14}" text-anchor="middle">${escape(text)}</text>` : '')).filter(Boolean);
}

export interface LineSeries {
  name: string;
  values: number[];
  /** Series on the right axis get their own scale (e.g. loss against NDCG). */
  axis: 'left' | 'right';
}

export function lineChart(title: string, labels: string[], series: LineSeries[]): string {
  const x = (i: number) => MARGIN.left + (labels.length > 1 ? (i / (labels.length - 1)) * PLOT_W : PLOT_W / 2);
  const scales = Object.fromEntries((['left', 'right'] as const).map((axis) => [axis, range(series.filter((s) => s.axis === axis).flatMap((s) => s.values))]));
  const y = (axis: 'left' | 'right', v: number) => {
    const [lo, hi] = scales[axis];
    return MARGIN.top + PLOT_H - ((v - lo) / (hi - lo)) * PLOT_H;
  };
  const body = series.flatMap((s, i) => {
    const points = s.values.map((v, j) => `${x(j).toFixed(1)},${y(s.axis, v).toFixed(1)}`);
    return [
      `<polyline fill="none" stroke="${COLORS[i]}" stroke-width="2" points="${points.join(' ')}"/>`,
      ...points.map((p) => `<circle cx="${p.split(',')[0]}" cy="${p.split(',')[1]}" r="2.5" fill="${COLORS[i]}"/>`),
    ];
  });
  const axisLabels = (['left', 'right'] as const)
    .filter((axis) => series.some((s) => s.axis === axis))
    .flatMap((axis) => {
      const [lo, hi] = scales[axis];
      const at = axis === 'left' ? MARGIN.left - 4 : MARGIN.left + PLOT_W + 4;
      const anchor = axis === 'left' ? 'end' : 'start';
      const color = COLORS[series.findIndex((s) => s.axis === axis)];
      return [lo, (lo + hi) / 2, hi].map((v) => `<text x="${at}" y="${y(axis, v) + 4}" text-anchor="${anchor}" fill="${color}">${label(v)}</text>`);
    });
  return frame(title, [...body, ...axisLabels, ...xLabels(labels, x)], series.map((s) => s.name));
}

export function barChart(title: string, groups: string[], series: { name: string; values: number[] }[]): string {
  const [, hi] = range(series.flatMap((s) => s.values));
  const groupWidth = PLOT_W / Math.max(1, groups.length);
  const barWidth = (groupWidth * 0.7) / series.length;
  const body = series.flatMap((s, i) =>
    s.values.map((v, g) => {
      const height = (v / hi) * PLOT_H;
      const left = MARGIN.left + g * groupWidth + groupWidth * 0.15 + i * barWidth;
      const top = MARGIN.top + PLOT_H - height;
      return `<rect x="${left.toFixed(1)}" y="${top.toFixed(1)}" width="${barWidth.toFixed(1)}" height="${height.toFixed(1)}" fill="${COLORS[i]}"/><text x="${(left + barWidth / 2).toFixed(1)}" y="${(top - 3).toFixed(1)}" text-anchor="middle">${label(v)}</text>`;
    }),
  );
  const x = (g: number) => MARGIN.left + (g + 0.5) * groupWidth;
  return frame(title, [...body, ...xLabels(groups, x)], series.map((s) => s.name));
}
