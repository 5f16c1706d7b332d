/**
 * Explanations are faithful on real data: masking the inputs an explanation ranks highest
 * changes the score more than masking as many random inputs, averaged over cases. Models are
 * trained here on the public files (small, few epochs: faithfulness is a property of the
 * attribution method on the model at hand, not of its accuracy); cases come from the test
 * period or file, never from what the model was trained or stopped on.
 */
import assert from 'node:assert/strict';
import { createReadStream, readFileSync } from 'node:fs';
import { createGunzip } from 'node:zlib';
import { parse as csvParser } from 'csv-parse';
import { parse as parseCsv } from 'csv-parse/sync';
import { datasetOrSkip } from '../datasets';
import { selectBackend } from '../../ml/backend';
import { seededRng } from '../../ml/random';
import { computeBatchFeatures, DictionaryEncoder, labelsFromTxFraud, FEATURE_NAMES } from '../../activities/model-kinds/transaction-risk/features';
import { TransactionRow, type Transaction } from '../../activities/model-kinds/transaction-risk/rows';
import { TabularHyperparameters, trainFraudMlp, type LabelledRows } from '../../ml/tabular/fraud-mlp';
import { standardize } from '../../ml/tabular/standardizer';
import { fitTokenizer, HashingParams, Tokenizer, words } from '../../ml/text/tokenizer';
import { IntentHyperparameters, trainIntentNetwork } from '../../ml/text/intent-model';
import { IntentScorer } from '../../ml/text/intent-scorer';

const CASES = 300;
const MASKED = 3;
const RANDOM_DRAWS = 10;

/** Mean |score change| when masking each case's top `masked` inputs, and when masking random ones (RANDOM_DRAWS draws per case). */
function maskingEffects(cases: number, inputsOf: (c: number) => number, topOf: (c: number) => number[], change: (c: number, masked: number[]) => number, seed: number) {
  const random = seededRng(seed);
  let top = 0;
  let randomTotal = 0;
  for (let c = 0; c < cases; c++) {
    top += change(c, topOf(c));
    const n = inputsOf(c);
    for (let d = 0; d < RANDOM_DRAWS; d++) {
      const order = Array.from({ length: n }, (_, i) => i);
      for (let i = n - 1; i > 0; i--) {
        const j = Math.floor(random() * (i + 1));
        [order[i], order[j]] = [order[j], order[i]];
      }
      randomTotal += change(c, order.slice(0, MASKED));
    }
  }
  return { top: top / cases, random: randomTotal / cases / RANDOM_DRAWS };
}

describe('explanations are faithful on real data', () => {
  before(() => selectBackend());

  it('transaction risk: masking the top-3 features (to their training mean) moves the log-odds more than masking 3 random ones', async function () {
    const file = datasetOrSkip(this, 'card-transactions', 'transactions.csv.gz');
    // The handbook's protocol: a training week, its 30-day feature lead-in, and the test week after a 7-day delay; the week before training stops early.
    const [from, validationStart, trainStart, trainEnd, testStart, testEnd] = ['2018-06-10', '2018-07-18', '2018-07-25', '2018-08-01', '2018-08-08', '2018-08-15'];
    const rows: Transaction[] = [];
    for await (const record of createReadStream(file).pipe(createGunzip()).pipe(csvParser({ columns: true }))) {
      const day = String(record.tx_datetime).slice(0, 10);
      if (day >= from && day < testEnd) rows.push(TransactionRow.parse(record));
    }
    const customers = new DictionaryEncoder();
    const terminals = new DictionaryEncoder();
    const timeMs = Float64Array.from(rows, (r) => r.tx_datetime);
    const columns = { timeMs, customer: Int32Array.from(rows, (r) => customers.encode(r.customer_id)), terminal: Int32Array.from(rows, (r) => terminals.encode(r.terminal_id)), amount: Float64Array.from(rows, (r) => r.tx_amount) };
    const { values } = computeBatchFeatures(columns, labelsFromTxFraud(timeMs, rows.map((r) => r.tx_fraud ?? null)));
    const width = FEATURE_NAMES.length;
    const between = (start: string, end: string) => rows.flatMap((r, i) => (r.tx_datetime >= Date.parse(`${start}T00:00:00Z`) && r.tx_datetime < Date.parse(`${end}T00:00:00Z`) ? [i] : []));
    const labelled = (indices: number[]): LabelledRows => {
      const x = new Float32Array(indices.length * width);
      indices.forEach((row, i) => x.set(values.subarray(row * width, (row + 1) * width), i * width));
      return { x, y: Uint8Array.from(indices, (row) => (rows[row].tx_fraud ? 1 : 0)) };
    };
    const hyperparameters = TabularHyperparameters.parse({ hiddenLayers: [32], epochs: 8, patience: 3, batchSize: 512, learningRate: 0.003 });
    const { model } = await trainFraudMlp({ hyperparameters, featureNames: [...FEATURE_NAMES], train: labelled(between(trainStart, trainEnd)), validation: labelled(between(validationStart, trainStart)) });
    try {
      const test = labelled(between(testStart, testEnd));
      const testRows = test.y.length;
      const probabilities = model.predict(test.x, testRows);
      // The riskiest test transactions: the declines and reviews a person asks about.
      const cases = Array.from({ length: testRows }, (_, i) => i).sort((a, b) => probabilities[b] - probabilities[a]).slice(0, CASES);
      const x = new Float32Array(cases.length * width);
      cases.forEach((row, c) => x.set(test.x.subarray(row * width, (row + 1) * width), c * width));
      const scorer = model.frozen();
      const explained = scorer.explain(x, cases.length, width);
      const standardized = standardize(model.config.standardizer, x);
      const logits = model.standardizedLogits(standardized);
      const change = (c: number, masked: number[]) => {
        const row = standardized.slice(c * width, (c + 1) * width);
        for (const j of masked) row[j] = 0; // the training mean: gradient x input's baseline
        return Math.abs(logits[c] - model.standardizedLogits(row)[0]);
      };
      const effects = maskingEffects(cases.length, () => width, (c) => explained[c].slice(0, MASKED).map((f) => FEATURE_NAMES.indexOf(f.feature)), change, 7);
      console.log(`      risk: mean |change of logit| masking the top-${MASKED} features ${effects.top.toFixed(3)}, ${MASKED} random ones ${effects.random.toFixed(3)} (${cases.length} test transactions)`);
      assert.ok(effects.top > effects.random, `top ${effects.top} vs random ${effects.random}`);
    } finally {
      model.dispose();
    }
  });

  it('intent routing: removing the top-3 words moves the predicted intent\'s logit more than removing 3 random words', async function () {
    const read = (name: string) => parseCsv(readFileSync(datasetOrSkip(this, 'banking77', name)), { columns: true }) as { text: string; category: string }[];
    const [trainFile, testFile] = [read('train.csv'), read('test.csv')];
    const intents = [...new Set(trainFile.map((r) => r.category))].sort();
    // Every tenth training row stops early and sets the temperature; the test file gives the cases.
    const validationRows = trainFile.filter((_, i) => i % 10 === 0);
    const trainRows = trainFile.filter((_, i) => i % 10 !== 0);
    const tokenizer = new Tokenizer(fitTokenizer(trainRows.map((r) => r.text), HashingParams.parse({})));
    const encoded = (picked: typeof trainFile) => ({ texts: tokenizer.encodeAll(picked.map((r) => r.text)), labels: Int32Array.from(picked, (r) => intents.indexOf(r.category)) });
    const hyperparameters = IntentHyperparameters.parse({ hiddenLayers: [64], epochs: 4, patience: 2, batchSize: 128, learningRate: 0.005 });
    const { network } = await trainIntentNetwork({ hyperparameters, features: tokenizer.features, intents, train: encoded(trainRows), validation: encoded(validationRows) });
    try {
      const scorer = IntentScorer.fromWeights(network.config, Object.fromEntries(network.namedWeights().map(({ name, tensor }) => [name, tensor.dataSync() as Float32Array])));
      // Texts of at least 2 * MASKED words, as their normalised words (what the model reads), so removing words is exact.
      const texts = testFile.map((r) => words(r.text).map((w) => w.token)).filter((w) => w.length >= 2 * MASKED).slice(0, CASES);
      const classes = intents.length;
      const logitsOf = (list: string[]) => network.scaledLogits(tokenizer.encodeAll(list));
      const base = logitsOf(texts.map((w) => w.join(' ')));
      const predicted = texts.map((_, c) => {
        let best = 0;
        for (let k = 1; k < classes; k++) if (base[c * classes + k] > base[c * classes + best]) best = k;
        return best;
      });
      const topWords = texts.map((w, c) => {
        const text = w.join(' ');
        const enc = tokenizer.encode(text);
        const { attributions } = tokenizer.wordAttributions(text, enc, scorer.entryAttributions(enc, predicted[c]));
        return Array.from(attributions.keys()).sort((a, b) => Math.abs(attributions[b]) - Math.abs(attributions[a])).slice(0, MASKED);
      });
      const change = (c: number, masked: number[]) => {
        const kept = texts[c].filter((_, i) => !masked.includes(i)).join(' ');
        return Math.abs(base[c * classes + predicted[c]] - logitsOf([kept])[predicted[c]]);
      };
      const effects = maskingEffects(texts.length, (c) => texts[c].length, (c) => topWords[c], change, 11);
      console.log(`      intent: mean |change of logit| removing the top-${MASKED} words ${effects.top.toFixed(3)}, ${MASKED} random ones ${effects.random.toFixed(3)} (${texts.length} test texts)`);
      assert.ok(effects.top > effects.random, `top ${effects.top} vs random ${effects.random}`);
    } finally {
      network.dispose();
    }
  });
});
