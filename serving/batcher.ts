/**
 * Dynamic batching, as model servers do it: a request's input waits at most `windowMs` for
 * others, or until `maxBatch` have arrived, and all of them are scored in one model call,
 * which costs little more than one. Each request gets its own output back, in any order of
 * arrival. A batcher belongs to one loaded version (loadVersion makes it), so a batch is
 * always scored by a single version; and every request waiting in it holds its lease on that
 * version (ServingHost.serve), so a hot swap cannot dispose the model under a pending batch.
 *
 * Hand-written: the published batchers (dataloader and the like) batch by event-loop tick
 * only, without a time window or a concurrency bound on the model call.
 */
import type { BatchScoring } from '../activities/model-kinds/contract';

export interface BatchOptions {
  /** Most inputs per model call; 1 scores each request alone, as it arrives. */
  maxBatch: number;
  /** Longest the first input of a batch waits for more, in ms; 0 takes those of the same event-loop turn. */
  windowMs: number;
}

interface Pending<Input, Output> {
  input: Input;
  resolve: (output: Output) => void;
  reject: (error: unknown) => void;
}

export class DynamicBatcher<Input, Output> {
  private queue: Pending<Input, Output>[] = [];
  private timer: NodeJS.Timeout | NodeJS.Immediate | undefined;
  /** One model call at a time: inputs that arrive during it form the next batch. */
  private scoring = false;

  constructor(
    private readonly scoreMany: BatchScoring<Input, Output>,
    private readonly options: BatchOptions,
  ) {}

  score(input: Input): Promise<Output> {
    if (this.options.maxBatch <= 1) return this.call([input]).then(([output]) => output);
    return new Promise((resolve, reject) => {
      this.queue.push({ input, resolve, reject });
      if (this.scoring) return; // the call in flight takes the queue when it is done
      if (this.queue.length >= this.options.maxBatch) this.flush();
      else this.timer ??= this.options.windowMs > 0 ? setTimeout(() => this.flush(), this.options.windowMs) : setImmediate(() => this.flush());
    });
  }

  private flush(): void {
    this.cancelTimer();
    if (!this.scoring) void this.drain();
  }

  private cancelTimer(): void {
    if (this.timer === undefined) return;
    clearTimeout(this.timer as NodeJS.Timeout);
    clearImmediate(this.timer as NodeJS.Immediate);
    this.timer = undefined;
  }

  /** Scores batches until the queue is empty; what arrived during a call has waited for it already, so it goes next without a new window. */
  private async drain(): Promise<void> {
    this.scoring = true;
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.options.maxBatch);
      try {
        const outputs = await this.call(batch.map((p) => p.input));
        batch.forEach((p, i) => p.resolve(outputs[i]));
      } catch (error) {
        // One bad input must not fail the others: each is scored alone, and only its own call's error reaches it.
        if (batch.length === 1) batch[0].reject(error);
        else await Promise.all(batch.map((p) => this.call([p.input]).then(([output]) => p.resolve(output), p.reject)));
      }
    }
    this.scoring = false;
  }

  private async call(inputs: Input[]): Promise<Output[]> {
    const outputs = await this.scoreMany(inputs);
    if (outputs.length !== inputs.length) throw new Error(`a batch of ${inputs.length} inputs was scored into ${outputs.length} outputs`);
    return outputs;
  }
}
