import { readFileSync } from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from '../../infra/config';

interface Panel {
  targets?: { expr: string }[];
}

/** Every metric name the Grafana dashboard in infra/ queries, so tests can check that the endpoints export them. */
export function dashboardMetricNames(): string[] {
  const dashboard = JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'infra', 'grafana', 'storeloop-dashboard.json'), 'utf8')) as { panels: Panel[] };
  const exprs = dashboard.panels.flatMap((panel) => panel.targets ?? []).map((target) => target.expr);
  return [...new Set(exprs.flatMap((expr) => expr.match(/\b(storeloop|temporal)_[a-z0-9_]+/g) ?? []))].sort();
}
