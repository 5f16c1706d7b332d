/**
 * The registered model kinds: one line each. The host finds a kind here by the name in the
 * workflow input; the workflow itself never imports a kind.
 */
import { nextItemKind } from './next-item';
import { transactionRiskKind } from './transaction-risk';
import { demandForecastKind } from './demand-forecast';
import { intentRoutingKind } from './intent-routing';
import { productCategorisationKind } from './product-categorisation';
import { InvalidWorkflowInputError } from '../../schemas/lifecycle-input';
import { UndeclaredPersonalColumnError, undeclaredPersonalColumns } from '../privacy/personal-data';
import type { AnyModelKind, MetricSpec } from './contract';

export class UnknownModelKindError extends Error {
  constructor(name: string, known: readonly string[]) {
    super(`unknown model kind "${name}"; registered kinds: ${known.join(', ')}`);
    this.name = 'UnknownModelKindError';
  }
}

/**
 * Every stored column that looks personal is declared (privacy/personal-data.ts), and only
 * events sources hold personal data: collect deletes their raw files once protected, which
 * it cannot do for a table source's export, read whole on every run.
 */
function checkPersonalData(kind: AnyModelKind): void {
  for (const source of kind.sources) {
    const where = `model kind "${kind.name}", source "${source.name}"`;
    const undeclared = undeclaredPersonalColumns(source.arrow.fields.map((f) => f.name), source.personal, source.notPersonal);
    if (undeclared.length > 0) throw new UndeclaredPersonalColumnError(where, undeclared);
    if (source.mode === 'table' && Object.keys(source.personal ?? {}).length > 0) throw new Error(`${where}: a table source cannot hold personal columns; make it an events source`);
  }
  const undeclared = undeclaredPersonalColumns(kind.feedback.arrow.fields.map((f) => f.name), kind.feedback.personal, kind.feedback.notPersonal);
  if (undeclared.length > 0) throw new UndeclaredPersonalColumnError(`model kind "${kind.name}", feedback log`, undeclared);
}

/** Builds the registry, refusing two kinds of one name (the second would silently shadow the first) and undeclared personal columns. */
export function buildRegistry(kinds: readonly AnyModelKind[]): ReadonlyMap<string, AnyModelKind> {
  const registry = new Map<string, AnyModelKind>();
  for (const kind of kinds) {
    if (registry.has(kind.name)) throw new Error(`model kind "${kind.name}" is registered twice`);
    checkPersonalData(kind);
    registry.set(kind.name, kind);
  }
  return registry;
}

export const MODEL_KINDS = buildRegistry([
  nextItemKind,
  transactionRiskKind,
  demandForecastKind,
  intentRoutingKind,
  productCategorisationKind,
]);

export const KIND_NAMES: readonly string[] = [...MODEL_KINDS.keys()];

export function kindOf(name: string): AnyModelKind {
  const kind = MODEL_KINDS.get(name);
  if (!kind) throw new UnknownModelKindError(name, KIND_NAMES);
  return kind;
}

/** A metric of the kind by name; an unknown name is an input error that lists the kind's metrics. */
export function metricSpec(kind: AnyModelKind, name: string): MetricSpec {
  const spec = kind.metrics.specs.find((m) => m.name === name);
  if (!spec) throw new InvalidWorkflowInputError(`${kind.name} has no metric "${name}"; its metrics: ${kind.metrics.specs.map((m) => m.name).join(', ')}`);
  return spec;
}

/** A metric value as its spec formats it ("–" when absent). */
export function formatMetric(spec: MetricSpec, value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '–';
  if (spec.format === 'percent') return `${(value * 100).toFixed(2)}%`;
  if (spec.format === 'ratio') return value.toFixed(4);
  return Number.isInteger(value) ? String(value) : value.toFixed(2);
}
