import { strict as assert } from 'node:assert';
import { maskPersonalText } from '../../activities/privacy/text-masking';
import { Field, Schema, Utf8 } from 'apache-arrow';
import { Pseudonymiser, isPseudonym, PseudonymKeyError } from '../../activities/privacy/pseudonyms';
import { NoisyCounts } from '../../activities/privacy/noisy-counts';
import { RowProtector, UndeclaredPersonalColumnError, undeclaredPersonalColumns } from '../../activities/privacy/personal-data';
import { buildRegistry, MODEL_KINDS } from '../../activities/model-kinds/registry';
import type { AnyModelKind, AnySourceContract } from '../../activities/model-kinds/contract';

const KEY = 'k'.repeat(40);

describe('privacy: masking customer texts', () => {
  const cases: [string, string][] = [
    ['my email is jane.doe+shop@example.co.uk, please reply', 'my email is [EMAIL], please reply'],
    ['Contact: MAX_MUSTER@firma-x.de', 'Contact: [EMAIL]'],
    ['card 4111 1111 1111 1111 was charged twice', 'card [CARD] was charged twice'],
    ['card number 5500-0000-0000-0004 expired', 'card number [CARD] expired'],
    ['my amex 378282246310005', 'my amex [CARD]'],
    ['call me on +44 20 7946 0958 after 5pm', 'call me on [PHONE] after 5pm'],
    ['my number is (415) 555-0132', 'my number is [PHONE]'],
    ['phone: 020 7946 0958', 'phone: [PHONE]'],
    ['where is order 123456789?', 'where is order [ORDER]?'],
    ['Order #A-98765 never arrived', 'Order #[ORDER] never arrived'],
    ['order number is 7781-2234-99', 'order number is [ORDER]'],
    ['refund for invoice INV-20231', 'refund for invoice [ORDER]'],
    ['tracking no. 1Z999AA10123456784 shows nothing', 'tracking no. [ORDER] shows nothing'],
    ['I ordered it, reference #4455667', 'I ordered it, reference [ORDER]'],
    ['我的手机号是13812345678，请回电', '我的手机号是[PHONE]，请回电'],
    ['电话：+86 138 1234 5678', '电话：[PHONE]'],
    ['订单号：202311150001234还没发货', '订单号：[ORDER]还没发货'],
    ['我的订单编号是 DD12345678 怎么还没到', '我的订单编号是 [ORDER] 怎么还没到'],
    ['邮箱是zhang.wei@example.cn谢谢', '邮箱是[EMAIL]谢谢'],
    ['银行卡号6222 0212 3456 7890 123被扣款两次', '银行卡号[CARD]被扣款两次'],
    // Not personal: dates, amounts, short numbers, product codes stay as written.
    ['I paid 1299.99 on 2024-03-05 for 2 items', 'I paid 1299.99 on 2024-03-05 for 2 items'],
    ['delivered 05/03/2024, size 42', 'delivered 05/03/2024, size 42'],
    ['the SKU AB1234567 is out of stock', 'the SKU AB1234567 is out of stock'],
    ['what is the return window? 30 days?', 'what is the return window? 30 days?'],
    ['我想退货，买了3件', '我想退货，买了3件'],
  ];
  for (const [text, expected] of cases) {
    it(JSON.stringify(text), () => assert.equal(maskPersonalText(text), expected));
  }

  it('is idempotent: masking a masked text changes nothing', () => {
    for (const [text] of cases) assert.equal(maskPersonalText(maskPersonalText(text)), maskPersonalText(text));
  });
});

describe('privacy: pseudonyms', () => {
  it('maps an id to the same pseudonym under one key and to another under another key', () => {
    const a = new Pseudonymiser(KEY);
    assert.equal(a.of('U000042'), new Pseudonymiser(KEY).of('U000042'));
    assert.notEqual(a.of('U000042'), new Pseudonymiser('j'.repeat(40)).of('U000042'));
    assert.notEqual(a.of('U000042'), a.of('U000043'));
    assert.ok(isPseudonym(a.of('U000042')), a.of('U000042'));
    assert.ok(!a.of('U000042').includes('U000042'));
  });

  it('keeps a pseudonym as it is, so protecting a row twice is harmless', () => {
    const a = new Pseudonymiser(KEY);
    assert.equal(a.of(a.of('42')), a.of('42'));
  });

  it('leaves ids as given without a key, and refuses a short key', () => {
    const off = new Pseudonymiser(null);
    assert.equal(off.enabled, false);
    assert.equal(off.of('U000042'), 'U000042');
    assert.equal(off.fingerprint(), null);
    assert.throws(() => new Pseudonymiser('short'), PseudonymKeyError);
  });

  it('fingerprints the key without revealing it', () => {
    const fingerprint = new Pseudonymiser(KEY).fingerprint()!;
    assert.match(fingerprint, /^[0-9a-f]{16}$/);
    assert.notEqual(fingerprint, new Pseudonymiser('j'.repeat(40)).fingerprint());
  });
});

describe('privacy: personal columns', () => {
  const protector = new RowProtector({ user_id: 'identifier', note: 'free-text' }, new Pseudonymiser(KEY));

  it('protects identifiers and masks free text, leaving other fields and absent values alone', () => {
    const row = protector.protect({ user_id: 'U000042', note: 'mail me at a.b@example.com', item_id: 'P1', session_id: null });
    assert.equal(row.user_id, new Pseudonymiser(KEY).of('U000042'));
    assert.equal(row.note, 'mail me at [EMAIL]');
    assert.equal(row.item_id, 'P1');
    assert.equal(row.session_id, null);
  });

  it('keeps a rejected row in the quarantine protected, and withholds a line that did not parse', () => {
    assert.doesNotMatch(protector.quarantined({ user_id: 'U000042', timestamp: 'yesterday' }, 'U000042,yesterday'), /U000042/);
    assert.match(protector.quarantined(undefined, '{"user_id":"U000042",'), /^\(withheld: 21 bytes/);
  });

  it('the registry refuses a kind that would store a personal-looking column undeclared, or personal data in a table source', () => {
    const [kind] = [...MODEL_KINDS.values()];
    const withColumn = (source: AnySourceContract): AnyModelKind => ({ ...kind, name: 'test-kind', sources: [source] });
    const events = kind.sources.find((s) => s.mode === 'events')!;
    const arrow = new Schema([...events.arrow.fields, new Field('customer_email', new Utf8(), true)]);
    assert.throws(() => buildRegistry([withColumn({ ...events, arrow })]), UndeclaredPersonalColumnError);
    assert.doesNotThrow(() => buildRegistry([withColumn({ ...events, arrow, notPersonal: ['customer_email'] })]));
    assert.throws(() => buildRegistry([withColumn({ ...events, mode: 'table' })]), /a table source cannot hold personal columns/);
  });

  it('finds personal-looking columns by their name, not by a word inside it', () => {
    assert.deepEqual(undeclaredPersonalColumns(['user_id', 'f_customer_nb_tx_1d', 'item_id', 'billing_address', 'phone']), ['user_id', 'billing_address', 'phone']);
  });
});

describe('privacy: differentially private report counts', () => {
  const pseudonyms = new Pseudonymiser(KEY);
  const noiseOf = (counts: NoisyCounts, names: number) => Array.from({ length: names }, (_, i) => counts.count(`count ${i}`, 1_000_000) - 1_000_000);

  it('draws the same noise for the same run and count (a retried report is identical), other noise for another run', () => {
    const [a, b, otherRun] = [new NoisyCounts(0.5, pseudonyms, 'run-1'), new NoisyCounts(0.5, pseudonyms, 'run-1'), new NoisyCounts(0.5, pseudonyms, 'run-2')];
    assert.deepEqual(noiseOf(a, 50), noiseOf(b, 50));
    assert.notDeepEqual(noiseOf(a, 50), noiseOf(otherRun, 50));
    assert.notDeepEqual(noiseOf(new NoisyCounts(0.5, new Pseudonymiser('x'.repeat(40)), 'run-1'), 50), noiseOf(a, 50), 'another key, other noise');
  });

  it('is the two-sided geometric distribution of ε: P(0) = (1 - α)/(1 + α), variance 2α/(1 - α)², symmetric', () => {
    for (const epsilon of [0.1, 1]) {
      const alpha = Math.exp(-epsilon);
      const noise = noiseOf(new NoisyCounts(epsilon, pseudonyms, `distribution ${epsilon}`), 20_000);
      const mean = noise.reduce((a, b) => a + b, 0) / noise.length;
      const variance = noise.reduce((a, b) => a + (b - mean) ** 2, 0) / noise.length;
      const expectedVariance = (2 * alpha) / (1 - alpha) ** 2; // ε 1: 1.84; ε 0.1: 199.0
      assert.ok(Math.abs(mean) < 4 * Math.sqrt(expectedVariance / noise.length), `ε ${epsilon}: mean ${mean}`);
      assert.ok(Math.abs(variance / expectedVariance - 1) < 0.06, `ε ${epsilon}: variance ${variance} vs ${expectedVariance}`);
      const zeroShare = noise.filter((n) => n === 0).length / noise.length;
      assert.ok(Math.abs(zeroShare - (1 - alpha) / (1 + alpha)) < 0.015, `ε ${epsilon}: P(0) ${zeroShare} vs ${(1 - alpha) / (1 + alpha)}`);
      const [below, above] = [noise.filter((n) => n < 0).length, noise.filter((n) => n > 0).length];
      assert.ok(Math.abs(below - above) < 4 * Math.sqrt(below + above), `ε ${epsilon}: ${below} below vs ${above} above`);
    }
  });

  it('rounds, never shows a negative count, and counts the distinct counts it released', () => {
    const counts = new NoisyCounts(0.05, pseudonyms, 'small');
    const shown = Array.from({ length: 200 }, (_, i) => counts.count(`tiny ${i}`, 0.4));
    assert.ok(shown.every((v) => Number.isInteger(v) && v >= 0));
    assert.ok(shown.some((v) => v > 0), 'noise of scale 20 moves some counts up');
    counts.count('tiny 0', 0.4);
    assert.equal(counts.released, 200, 'a count shown twice is released once');
  });

  it('needs the pseudonym key, and a positive ε', () => {
    assert.throws(() => new NoisyCounts(1, new Pseudonymiser(null), 'run'), (error: Error) => error instanceof PseudonymKeyError && /report\.epsilon needs STORELOOP_PSEUDONYM_KEY/.test(error.message));
    assert.throws(() => new NoisyCounts(0, pseudonyms, 'run'), RangeError);
  });
});
