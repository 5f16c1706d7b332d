/**
 * Follows a model's champion alias. Every poll is one HEAD of `champion.json`; only when its
 * ETag changes is the alias read and, if it names another version, that version loaded in
 * the background while the current one keeps answering. The swap is one assignment, so
 * every request sees either the old or the new version, never neither. The old version is
 * retired: disposed once its in-flight requests have finished. What a version is made of
 * (a recommender and its vocabulary, a fraud model and its feature state) is the kind's:
 * its serving handler loads and disposes it.
 */
import { readChampion, readVersionManifest, servingPrefix, loadVersionBundle, versionArtifactKey, type VersionManifest } from '../activities/registry/serving-registry';
import { DynamicBatcher } from './batcher';
import type { AnyModelKind, ServingSettings } from '../activities/model-kinds/contract';
import type { ObjectStore } from '../activities/storage/object-store';
import type { Logger } from 'pino';

/**
 * One loaded version, leased by requests (acquire/release). After a swap it is retired and
 * the kind disposes it when its last in-flight request has released it.
 */
export class ServedVersion<Loaded = unknown> {
  private leases = 0;
  private retired = false;

  constructor(
    readonly manifest: VersionManifest,
    readonly loaded: Loaded,
    private readonly dispose: () => void,
  ) {}

  get version(): string {
    return this.manifest.version;
  }

  acquire(): this {
    this.leases++;
    return this;
  }

  release(): void {
    this.leases--;
    this.disposeWhenIdle();
  }

  /** No new leases will come; the model goes once the in-flight requests are done. */
  retire(): void {
    this.retired = true;
    this.disposeWhenIdle();
  }

  private disposeWhenIdle(): void {
    if (this.retired && this.leases === 0) this.dispose();
  }
}

/** Reads a published version (manifest, bundle, the artifacts it names) and has the kind load it. */
export async function loadVersion(store: ObjectStore, kind: AnyModelKind, model: string, version: string, settings: ServingSettings, log: Logger, previous?: ServedVersion): Promise<ServedVersion> {
  const manifest = await readVersionManifest(store, model, version);
  if (manifest.kind !== kind.name) throw new Error(`${model} ${version} is a ${manifest.kind} model, not ${kind.name}`);
  const bundle = await loadVersionBundle(store, manifest);
  const loaded = await kind.serving.load(
    {
      store,
      manifest,
      bundle,
      artifactKey: (name) => versionArtifactKey(store, manifest, name),
      hasArtifact: (name) => name in manifest.lineage.servingArtifacts || name in manifest.lineage.artifacts,
      settings,
      // A batcher per version: each batch is scored by this version alone.
      batch: (scoreMany) => {
        const batcher = new DynamicBatcher(scoreMany, { maxBatch: settings.maxScoringBatch, windowMs: settings.batchWindowMs });
        return (input) => batcher.score(input);
      },
      log,
    },
    previous?.loaded,
  );
  return new ServedVersion(manifest, loaded, () => kind.serving.dispose(loaded));
}

export class NoChampionError extends Error {
  readonly statusCode = 503;
  constructor(model: string, why: string | null) {
    super(`model ${model} has no champion loaded${why ? `: ${why}` : ' yet; retry when /ready answers 200'}`);
    this.name = 'NoChampionError';
  }
}

export interface ChampionWatcherOptions {
  store: ObjectStore;
  model: string;
  kind: AnyModelKind;
  pollIntervalMs: number;
  settings: ServingSettings;
  log: Logger;
}

export class ChampionWatcher {
  private current: ServedVersion | null = null;
  private seenEtag: string | null = null;
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;
  private stopped = false;
  /** An alias whose version failed to load is tried again with backoff, not on every poll. */
  private failed: { etag: string; attempts: number; retryAt: number } | undefined;
  /** When the last poll failed (S3 unreachable, a version that does not load), why. */
  lastError: string | null = null;
  loadedAt: Date | null = null;
  /** How long loading (download, verification, model build) the live version took. */
  lastLoadMs: number | null = null;
  /** Polls that failed since start: S3 unreachable, or a version that would not load. */
  failedPolls = 0;

  constructor(private readonly options: ChampionWatcherOptions) {}

  /** Loads the champion there is now, if any, then keeps polling. */
  async start(): Promise<void> {
    await this.poll();
    this.schedule();
  }

  get champion(): ServedVersion | null {
    return this.current;
  }

  /** The live version, leased for one request: release it when the request is done. */
  acquire(): ServedVersion {
    if (!this.current) throw new NoChampionError(this.options.model, this.lastError);
    return this.current.acquire();
  }

  /** The live version's id, for events that only need to name it. */
  liveVersion(): string {
    if (!this.current) throw new NoChampionError(this.options.model, this.lastError);
    return this.current.version;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.polling;
    this.current?.retire();
    this.current = null;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.polling = this.poll().finally(() => this.schedule());
    }, this.options.pollIntervalMs);
  }

  private async poll(): Promise<void> {
    const { store, model, log } = this.options;
    let etag: string | undefined;
    try {
      etag = (await store.head(`${servingPrefix(model)}/champion.json`))?.etag;
      if (!etag) {
        // Storage answered: any earlier outage is over, and what is missing is the alias itself.
        this.lastError = this.current
          ? `${servingPrefix(model)}/champion.json is missing; still serving ${this.current.version}. Restore it with: storeloop models promote ${model} <version>`
          : `no ${servingPrefix(model)}/champion.json: nothing has been promoted for ${model} yet. Run its lifecycle (npm start -- --kind <kind>), or: storeloop models promote ${model} <version>`;
        return;
      }
      if (etag === this.seenEtag) {
        this.lastError = null;
        return;
      }
      if (etag === this.failed?.etag && Date.now() < this.failed.retryAt) return;
      const live = await readChampion(store, model);
      if (!live) return;
      if (live.alias.version !== this.current?.version) await this.swapTo(live.alias.version);
      // Remember the ETag only once its version is live, so a failed load is tried again.
      this.seenEtag = live.ref.aliasEtag;
      this.failed = undefined;
      this.lastError = null;
    } catch (error) {
      this.lastError = (error as Error).message;
      this.failedPolls++;
      if (etag) {
        const attempts = etag === this.failed?.etag ? this.failed.attempts + 1 : 1;
        this.failed = { etag, attempts, retryAt: Date.now() + Math.min(60_000, 1000 * 2 ** attempts) };
      }
      log.warn({ model, err: error }, `champion poll failed; still serving ${this.current?.version ?? 'nothing'}`);
    }
  }

  private async swapTo(version: string): Promise<void> {
    const { store, model, log } = this.options;
    const started = Date.now();
    const next = await loadVersion(store, this.options.kind, model, version, this.options.settings, log, this.current ?? undefined).catch((error: Error) => {
      throw new Error(`cannot load ${model} ${version}: ${error.message}`, { cause: error });
    });
    if (this.stopped) return next.retire();
    const previous = this.current;
    this.current = next;
    this.loadedAt = new Date();
    this.lastLoadMs = Date.now() - started;
    previous?.retire();
    log.info({ model, version, previous: previous?.version ?? null, loadMs: this.lastLoadMs, ...this.options.kind.serving.describe(next.loaded) }, `serving ${model} ${version}`);
  }
}
