/**
 * Masks contact and payment details in customer texts before they are stored or scored:
 * e-mail addresses, card-like numbers, order numbers and phone numbers become typed
 * placeholders ([EMAIL], [CARD], [ORDER], [PHONE]), so a model learns "the customer gave an
 * order number", never the number.
 *
 * Hand-written: the PII libraries on npm are either services or English-only name finders;
 * these four patterns (with the Chinese forms support texts use) are what the store's texts
 * carry, and each is covered by the unit table in test/unit/privacy.test.ts.
 */

export type MaskedKind = 'EMAIL' | 'CARD' | 'ORDER' | 'PHONE';

const EMAIL = /[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}/g;

// A word or CJK label that announces an order number, then the number (it holds a digit).
const ORDER = /((?:\border|\bpurchase|\binvoice|\btracking|订单编号|订单号|快递单号|运单号|订单|单号)(?:\s*(?:number|no\.?|num|id|code|#|号码|编号))?\s*(?:[:：#＃是为]|\bis\b)?\s*#?\s*)([A-Za-z]{0,4}-?\d[A-Za-z0-9-]{3,})/giu;
const HASH_NUMBER = /(?<![\p{L}\p{N}])[#＃]\d{5,}(?!\p{N})/gu;

// Runs of digits with the separators people type. Latin letters next to them make a code, not a number;
// CJK characters do not (Chinese text writes numbers between them without spaces).
const DIGIT_RUN = /(?<![\p{N}A-Za-z])\+?\(?\d[\d \-.()]*\d(?![\p{N}A-Za-z])/gu;
// Dates and amounts are digit runs that are neither phones nor cards.
const DATE_LIKE = /^(?:\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{2,4})$/;
const DECIMAL = /^\d+\.\d{1,2}$/;

const CARD_DIGITS = { min: 13, max: 19 };
const PHONE_DIGITS = { min: 7, max: 15 };

function maskDigitRun(run: string): string {
  if (DATE_LIKE.test(run) || DECIMAL.test(run)) return run;
  const digits = run.replace(/\D/g, '').length;
  if (digits >= CARD_DIGITS.min && digits <= CARD_DIGITS.max && !run.startsWith('+')) return '[CARD]';
  if (digits >= PHONE_DIGITS.min && digits <= PHONE_DIGITS.max) return '[PHONE]';
  return run;
}

/** The text with every e-mail, order number, card-like number and phone number replaced by its placeholder. */
export function maskPersonalText(text: string): string {
  return text
    .replace(EMAIL, '[EMAIL]')
    .replace(ORDER, (_match, label: string) => `${label}[ORDER]`)
    .replace(HASH_NUMBER, '[ORDER]')
    .replace(DIGIT_RUN, maskDigitRun);
}
