/**
 * Nelder–Mead minimisation, as R's optim (nmmin) runs it for forecast::ets, the M4
 * benchmarks' fitting code: reflection 1, contraction 0.5, expansion 2, stopping when the
 * simplex's values are within `relativeTolerance` of the best, or after `maxEvaluations`.
 * Hand-written: the npm options (fmin) stop on absolute tolerances, which never trigger on
 * sums of squares in the millions that sales series give. One departure from nmmin: the
 * initial simplex steps are per coordinate (`steps`), where nmmin uses 10% of the largest
 * |parameter| for all of them, a step of thousands for a smoothing weight in [0, 1].
 */
export interface NelderMeadOptions {
  steps: readonly number[];
  maxEvaluations?: number;
  relativeTolerance?: number;
}

export function nelderMead(f: (x: number[]) => number, start: readonly number[], options: NelderMeadOptions): { x: number[]; value: number; evaluations: number } {
  const n = start.length;
  const maxEvaluations = options.maxEvaluations ?? 2000;
  const tolerance = options.relativeTolerance ?? 1e-8;
  let evaluations = 0;
  const value = (x: number[]) => {
    evaluations++;
    const v = f(x);
    return Number.isNaN(v) ? Number.POSITIVE_INFINITY : v;
  };
  const points: number[][] = [Array.from(start)];
  for (let i = 0; i < n; i++) {
    const p = Array.from(start);
    p[i] += options.steps[i];
    points.push(p);
  }
  const values = points.map(value);
  const convergence = tolerance * (Math.abs(values[0]) + tolerance);
  const along = (a: number[], b: number[], t: number) => a.map((ai, i) => ai + t * (b[i] - ai));
  for (;;) {
    const order = values.map((_, i) => i).sort((a, b) => values[a] - values[b]);
    const best = order[0];
    const worst = order[n];
    const secondWorst = order[n - 1];
    if (values[worst] <= values[best] + convergence || evaluations >= maxEvaluations) break;
    const centroid = new Array<number>(n).fill(0);
    for (const i of order.slice(0, n)) for (let j = 0; j < n; j++) centroid[j] += points[i][j] / n;
    const reflected = along(centroid, points[worst], -1);
    const reflectedValue = value(reflected);
    if (reflectedValue < values[best]) {
      const expanded = along(centroid, points[worst], -2);
      const expandedValue = value(expanded);
      [points[worst], values[worst]] = expandedValue < reflectedValue ? [expanded, expandedValue] : [reflected, reflectedValue];
      continue;
    }
    if (reflectedValue < values[secondWorst]) {
      [points[worst], values[worst]] = [reflected, reflectedValue];
      continue;
    }
    // Contract toward the better of the worst point and its reflection.
    const outside = reflectedValue < values[worst];
    const contracted = along(centroid, outside ? reflected : points[worst], 0.5);
    const contractedValue = value(contracted);
    if (contractedValue < Math.min(values[worst], reflectedValue)) {
      [points[worst], values[worst]] = [contracted, contractedValue];
      continue;
    }
    // Shrink everything toward the best point.
    for (const i of order.slice(1)) {
      points[i] = along(points[best], points[i], 0.5);
      values[i] = value(points[i]);
    }
  }
  const best = values.indexOf(Math.min(...values));
  return { x: points[best], value: values[best], evaluations };
}
