/**
 * Differential privacy for the counts a run report shows (`report.epsilon`): each count gets
 * discrete Laplace noise (the two-sided geometric mechanism, P(k) ∝ e^(-ε|k|)), which is
 * ε-differentially private for a count that one row changes by at most 1. Integer noise on
 * an integer count, drawn without floating-point Laplace sampling, whose low bits can leak the
 * true value (Mironov, CCS 2012). Rounding to whole numbers and clamping at 0 are
 * post-processing and cost no privacy.
 *
 * The noise is drawn from a keyed stream, HMAC-SHA-256 under STORELOOP_PSEUDONYM_KEY of the
 * run and the count's name: a retried report is byte-identical (activities are idempotent),
 * the same count shown twice in a report (a segment's cases beside the champion's) has the
 * same noise (showing it twice costs no more), and nobody without the key can recompute the
 * noise and subtract it. Hand-written: no package in the registry offers a keyed,
 * reproducible geometric mechanism.
 */
import { createHmac } from 'node:crypto';
import { PSEUDONYM_KEY_ENV, PseudonymKeyError, type Pseudonymiser } from './pseudonyms';

export class NoisyCounts {
  private readonly noiseKey: Buffer;
  private readonly names = new Set<string>();

  /** `scope` names the release (the run): two runs draw independent noise for the same count. */
  constructor(
    readonly epsilon: number,
    pseudonyms: Pseudonymiser,
    private readonly scope: string,
  ) {
    if (!(epsilon > 0)) throw new RangeError(`epsilon must be positive, not ${epsilon}`);
    const key = pseudonyms.derivedKey('storeloop report noise');
    if (!key) throw reportEpsilonNeedsKey();
    this.noiseKey = key;
  }

  /** `value` with noise; the same name always gets the same noise. */
  count(name: string, value: number): number {
    this.names.add(name);
    return Math.max(0, Math.round(value) + this.noise(name));
  }

  /** Distinct counts released so far: by sequential composition the report as a whole is (released x ε)-DP for a row in all of them. */
  get released(): number {
    return this.names.size;
  }

  /** Two-sided geometric: the difference of two geometric draws with success probability 1 - e^(-ε). */
  private noise(name: string): number {
    const alpha = Math.exp(-this.epsilon);
    const geometric = (draw: number) => Math.floor(Math.log(this.uniform(name, draw)) / Math.log(alpha));
    return geometric(0) - geometric(1);
  }

  /** A uniform draw in (0, 1] from 53 bits of the keyed hash. */
  private uniform(name: string, draw: number): number {
    const digest = createHmac('sha256', this.noiseKey).update(`${this.scope}\0${name}\0${draw}`, 'utf8').digest();
    const bits = digest.readUInt32BE(0) * 2 ** 21 + (digest.readUInt32BE(4) >>> 11);
    return (bits + 1) / 2 ** 53;
  }
}

export function reportEpsilonNeedsKey(): PseudonymKeyError {
  return new PseudonymKeyError(`report.epsilon needs ${PSEUDONYM_KEY_ENV} on the pipeline worker: the report's noise is drawn from it, so that a retried report is the same and nobody without the key can subtract the noise`);
}
