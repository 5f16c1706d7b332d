/**
 * The host's runtimes for a kind's steps: artifact IO named by dataset and kind, logging and
 * heartbeats (KindRuntime), and for training the harness's hooks (activities/training-harness.ts).
 */
import { putTable, readTable } from './storage/arrow-io';
import { heartbeat } from './progress';
import type { KindRuntime } from './model-kinds/contract';
import type { ObjectStore } from './storage/object-store';
import type { PreprocessResult, StepContext } from '../schemas/steps';
import type { Logger } from 'pino';

export function createKindRuntime(store: ObjectStore, log: Logger, ctx: StepContext): KindRuntime {
  const prefix = (name: string) => `artifacts/${ctx.config.dataset}/${ctx.config.kind}/${name}`;
  return {
    store,
    log,
    ctx,
    heartbeat,
    putTable: (name, table) => putTable(store, prefix(name), table),
    putJson: (name, value) => store.putJsonArtifact(prefix(name), value),
    readTable: (key) => readTable(store, key),
  };
}

/** The object key of a named artifact of a preprocess step; a missing name is a kind bug, named with what there is. */
export function artifactOf(prepared: PreprocessResult, name: string): string {
  const ref = prepared.artifacts[name];
  if (!ref) throw new Error(`the ${prepared.kind} preprocess step produced no artifact "${name}" (it has ${Object.keys(prepared.artifacts).join(', ')})`);
  return ref.key;
}
