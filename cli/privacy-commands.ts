/**
 * `storeloop privacy erase --user <id>`: removes one customer from the store (a GDPR
 * request), with the same pseudonym key as the workers (activities/privacy/erasure.ts).
 */
import { Command } from 'commander';
import cliProgress from 'cli-progress';
import { eraseCustomer } from '../activities/privacy/erasure';
import { pseudonymiserFromEnv } from '../activities/privacy/pseudonyms';
import { MODEL_KINDS } from '../activities/model-kinds/registry';
import { createLogger } from '../infra/logger';
import { defaultOperator, output, withStore, type JsonOption } from './command-kit';

interface EraseOptions extends JsonOption {
  user: string;
  dataset?: string;
  by: string;
  reason: string;
}

export function privacyCommand(): Command {
  const privacy = new Command('privacy').description("customers' personal data: erasure");

  privacy
    .command('erase')
    .description("remove every stored row of one customer: raw files, partitions, derived artifacts, published versions' artifacts, feedback")
    .requiredOption('--user <id>', 'the customer id as the store knows it (user_id, customer_id, ...), not its pseudonym')
    .option('--dataset <name>', 'erase from this dataset and its models only (default: the whole store)')
    .option('--by <name>', 'who asked, for the audit record', defaultOperator())
    .option('--reason <text>', 'why, for the audit record', 'erasure request')
    .option('--json', 'print one JSON object for scripts')
    .action((options: EraseOptions) =>
      withStore(async (store) => {
        const bar = options.json ? undefined : new cliProgress.SingleBar({ format: 'erase |{bar}| {value}/{total} objects | {phase}', stream: process.stderr, hideCursor: true }, cliProgress.Presets.shades_classic);
        let phase = '';
        const result = await eraseCustomer(store, createLogger('privacy'), {
          id: options.user,
          dataset: options.dataset,
          by: options.by,
          reason: options.reason,
          kinds: [...MODEL_KINDS.values()],
          pseudonyms: pseudonymiserFromEnv(),
          onProgress: (done, total, now) => {
            if (now !== phase) {
              bar?.stop();
              bar?.start(total, 0, { phase: now });
              phase = now;
            }
            bar?.update(done);
          },
        }).finally(() => bar?.stop());
        output(options, result, () => {
          console.log(`erased ${result.subject}: ${result.rawFilesDeleted.length} raw file(s) deleted, ${result.rewritten.reduce((n, r) => n + r.rowsRemoved, 0)} row(s) removed from ${result.rewritten.length} table(s)`);
          console.log(`${result.referencesUpdated.length} reference(s) updated, ${result.staleCacheEntries.length} stale step-cache entr(ies) dropped: the next run rebuilds them`);
          console.log(result.residual.length === 0 ? 'verified: no stored object holds the id or its pseudonym' : `STILL NAMED in: ${result.residual.join(', ')}`);
          console.log(`audit record: ${result.audit}`);
        });
        if (result.residual.length > 0) process.exitCode = 1;
      }),
    );
  return privacy;
}
