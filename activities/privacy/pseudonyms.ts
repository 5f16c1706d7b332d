/**
 * Pseudonyms for customer identifiers: a keyed hash (HMAC-SHA-256 with
 * STORELOOP_PSEUDONYM_KEY), so every worker and serving host that holds the key maps an id to
 * the same pseudonym (joins, sequences and serving lookups still work), and nobody without
 * it can map a pseudonym back, or test a guessed id against it.
 *
 * A pseudonym is `ps_` and 22 base64url characters (132 bits of the HMAC). A value already in
 * that form is kept as it is, so protecting a row twice (a retried collect, a client that
 * sends back the pseudonym it was given) never hashes a hash.
 */
import { createHmac } from 'node:crypto';

export const PSEUDONYM_KEY_ENV = 'STORELOOP_PSEUDONYM_KEY';
/** A key shorter than this is refused: it could be guessed, and with it every pseudonym reversed. */
export const MIN_PSEUDONYM_KEY_CHARS = 32;

const PSEUDONYM = /^ps_[A-Za-z0-9_-]{22}$/;

export class PseudonymKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PseudonymKeyError';
  }
}

export const isPseudonym = (value: string): boolean => PSEUDONYM.test(value);

export class Pseudonymiser {
  private readonly key: Buffer | null;

  constructor(key: string | null) {
    if (key !== null && key.length < MIN_PSEUDONYM_KEY_CHARS) {
      throw new PseudonymKeyError(`${PSEUDONYM_KEY_ENV} must be at least ${MIN_PSEUDONYM_KEY_CHARS} characters (it has ${key.length}); generate one with: openssl rand -base64 32`);
    }
    this.key = key === null ? null : Buffer.from(key, 'utf8');
  }

  /** True when ids are replaced; without a key they are stored and served as given. */
  get enabled(): boolean {
    return this.key !== null;
  }

  /** The pseudonym of an id (the id itself without a key). */
  of(id: string): string {
    if (!this.key || isPseudonym(id)) return id;
    return `ps_${this.hmac(id).subarray(0, 17).toString('base64url').slice(0, 22)}`;
  }

  /**
   * Names the key without revealing it: stored with collected data, so a run with another key
   * (whose pseudonyms would not join the stored ones) is refused. null without a key.
   */
  fingerprint(): string | null {
    return this.key ? this.hmac('storeloop pseudonym key fingerprint').toString('hex').slice(0, 16) : null;
  }

  /** A key for another use of the same secret (report noise), separated from the pseudonyms' by `purpose`; null without a key. */
  derivedKey(purpose: string): Buffer | null {
    return this.key ? this.hmac(`storeloop derived key: ${purpose}`) : null;
  }

  private hmac(text: string): Buffer {
    return createHmac('sha256', this.key!).update(text, 'utf8').digest();
  }
}

/** The process's pseudonymiser, from STORELOOP_PSEUDONYM_KEY (unset or empty: ids stay as given). */
export function pseudonymiserFromEnv(env: NodeJS.ProcessEnv = process.env): Pseudonymiser {
  const key = env[PSEUDONYM_KEY_ENV];
  return new Pseudonymiser(key === undefined || key === '' ? null : key);
}
