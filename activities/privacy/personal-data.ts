/**
 * Personal columns, as kinds declare them (a source's or a feedback log's `personal`), and
 * their protection before anything is stored: an identifier is replaced by its pseudonym
 * (pseudonyms.ts), free text has contact and payment details masked (text-masking.ts).
 */
import { maskPersonalText } from './text-masking';
import type { Pseudonymiser } from './pseudonyms';

/** `identifier`: a customer, user or session id, stored as its keyed pseudonym; `free-text`: a customer's words, stored masked. */
export type PersonalField = 'identifier' | 'free-text';
export type PersonalFields = Readonly<Record<string, PersonalField>>;

/** The columns a declaration protects in one way (every source, feedback log and erasure asks this). */
export function personalColumns(personal: PersonalFields | undefined, how: PersonalField): string[] {
  return Object.entries(personal ?? {}).filter(([, protection]) => protection === how).map(([column]) => column);
}

/**
 * Column names that usually hold personal data. With a pseudonym key set, a stored column
 * whose name ends in one of these (or one of these and `_id`) and that its contract neither marks personal nor lists as `notPersonal`
 * stops collect: a new column must not slip into storage in the clear.
 */
const LOOKS_PERSONAL = /(^|_)(user|customer|client|member|session|conversation|account|device|email|mail|phone|mobile|card|cardholder|address|ip|name|message|comment|note)(_(id|key|ref|number|no))?$/i;

export class UndeclaredPersonalColumnError extends Error {
  constructor(where: string, columns: string[]) {
    super(
      `${where}: column(s) ${columns.join(', ')} look personal but are not declared: with STORELOOP_PSEUDONYM_KEY set they would be stored in the clear. ` +
        `Mark them in the contract's \`personal\` (identifier or free-text), or list them in \`notPersonal\` if they hold no personal data`,
    );
    this.name = 'UndeclaredPersonalColumnError';
  }
}

/** Columns whose names look personal but that are declared neither way. */
export function undeclaredPersonalColumns(columns: readonly string[], personal: PersonalFields = {}, notPersonal: readonly string[] = []): string[] {
  return columns.filter((c) => LOOKS_PERSONAL.test(c) && !(c in personal) && !notPersonal.includes(c));
}

/** Protects the personal fields of rows (objects keyed by column). Without a key, identifiers stay as given; texts are masked either way. */
export class RowProtector {
  private readonly fields: [string, PersonalField][];

  constructor(
    personal: PersonalFields | undefined,
    private readonly pseudonyms: Pseudonymiser,
  ) {
    this.fields = Object.entries(personal ?? {});
  }

  /** True when rows have fields to protect. */
  get active(): boolean {
    return this.fields.some(([, how]) => how === 'free-text' || this.pseudonyms.enabled);
  }

  /** True when stored rows hold no personal value in the clear (every identifier is pseudonymised). */
  get storesNoClearIds(): boolean {
    return this.pseudonyms.enabled || this.fields.every(([, how]) => how === 'free-text');
  }

  /** A copy of the row with its personal fields protected; null and absent values stay so. */
  protect<Row>(row: Row): Row {
    if (!this.active) return row;
    const out = { ...row } as Record<string, unknown>;
    for (const [field, how] of this.fields) {
      const value = out[field];
      if (value === null || value === undefined) continue;
      out[field] = how === 'identifier' ? this.pseudonyms.of(String(value)) : maskPersonalText(String(value));
    }
    return out as Row;
  }

  /**
   * What a quarantine keeps of a rejected row: the row with its personal fields protected when
   * the reader made an object of it, else (a line that did not parse) nothing of its text while
   * ids are pseudonymised, since an id in it cannot be found.
   */
  quarantined(record: unknown, raw: string): string {
    if (!this.active) return raw;
    if (record !== null && typeof record === 'object' && !Array.isArray(record)) return JSON.stringify(this.protect(record)).slice(0, 500);
    return this.storesNoClearIds && this.pseudonyms.enabled ? `(withheld: ${Buffer.byteLength(raw)} bytes of a row that may hold personal data)` : maskPersonalText(raw);
  }
}
