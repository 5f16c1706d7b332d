/**
 * `storeloop models ...`: the registry in serving storage. Promote and rollback swap the
 * champion alias with the registry's conditional write, so a change that races another
 * one fails with "the champion changed" instead of overwriting it.
 */
import { Command } from 'commander';
import {
  applyAliasChange,
  listVersions,
  modelOverviews,
  planPromotion,
  planRollback,
  readChampion,
  readHistory,
  type ChampionAlias,
} from '../activities/registry/serving-registry';
import { parseModelName } from '../schemas/lifecycle-input';
import { formatMetric, KIND_NAMES, kindOf } from '../activities/model-kinds/registry';
import { defaultOperator, output, table, withStore, type JsonOption } from './command-kit';


function printChange(alias: ChampionAlias): void {
  console.log(`${alias.model}: champion is now ${alias.version} (was ${alias.previous ?? 'none'}), ${alias.action} by ${alias.promotedBy}: ${alias.reason}`);
}

interface OperatorOptions extends JsonOption {
  by: string;
  reason: string;
}

export function modelsCommand(): Command {
  const models = new Command('models').description('served models: versions, champion, history; promote and roll back');

  models
    .command('list')
    .description('every model with a champion')
    .option('--json', 'print one JSON object for scripts')
    .action((options: JsonOption) =>
      withStore(async (store) => {
        const rows = await modelOverviews(store);
        output(options, { models: rows }, () => table(rows.map((r) => ({ ...r, value: r.value === null ? '-' : r.value.toFixed(4) }))));
      }),
    );

  models
    .command('show <model>')
    .description('champion, versions with metrics and lineage, and the history of alias changes')
    .option('--json', 'print one JSON object for scripts')
    .action((model: string, options: JsonOption) =>
      withStore(async (store) => {
        const kind = kindOf(parseModelName(model, KIND_NAMES).kind);
        const [champion, versions, history] = await Promise.all([readChampion(store, model), listVersions(store, model), readHistory(store, model)]);
        if (!champion && versions.length === 0) throw new Error(`no model ${model} in serving storage (see \`storeloop models list\`)`);
        output(options, { model, champion: champion?.alias ?? null, versions, history }, () => {
          console.log(`${model}: champion ${champion ? `${champion.alias.version} since ${champion.alias.promotedAt}` : '(none)'}`);
          console.log('\nVersions');
          table(versions.map((v) => ({
            version: v.version,
            live: v.version === champion?.alias.version ? '*' : '',
            ...Object.fromEntries(kind.metrics.specs.map((spec) => [spec.label, formatMetric(spec, v.metrics[spec.name])])),
            run: v.lineage.workflowId,
            backend: v.lineage.backend,
          })));
          console.log('\nHistory');
          table(history.map((h) => ({ at: h.promotedAt, action: h.action, version: h.version, previous: h.previous ?? '', by: h.promotedBy, reason: h.reason })));
        });
      }),
    );

  models
    .command('promote <model> <version>')
    .description('make a published version the champion (conditional swap; recorded with who and why)')
    .requiredOption('--reason <text>', 'why, for the history')
    .option('--by <name>', 'who, for the history', defaultOperator())
    .option('--json', 'print the new alias as JSON')
    .action((model: string, version: string, options: OperatorOptions) =>
      withStore(async (store) => {
        parseModelName(model, KIND_NAMES);
        const alias = await applyAliasChange(store, await planPromotion(store, model, version, options));
        output(options, alias, () => printChange(alias));
      }),
    );

  models
    .command('rollback <model>')
    .description('restore the champion before the current one (recorded in the history)')
    .requiredOption('--reason <text>', 'why, for the history')
    .option('--by <name>', 'who, for the history', defaultOperator())
    .option('--json', 'print the new alias as JSON')
    .action((model: string, options: OperatorOptions) =>
      withStore(async (store) => {
        parseModelName(model, KIND_NAMES);
        const change = await planRollback(store, model, options);
        const alias = await applyAliasChange(store, change);
        output(options, { ...alias, rolledBackFrom: change.replacing }, () =>
          console.log(`${model}: rolled back from ${change.replacing} to ${alias.version}, by ${alias.promotedBy}: ${alias.reason}`),
        );
      }),
    );

  return models;
}
