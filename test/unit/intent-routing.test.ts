import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { parseRawFile } from '../../activities/collect/raw-files';
import { REQUIRED_UTTERANCE_COLUMNS, UtteranceRow } from '../../activities/model-kinds/intent-routing/rows';
import { classify, loadIntentModel, parseTexts, type IntentModelConfig } from '../../activities/model-kinds/intent-routing/serving';
import { chooseThreshold, intentMetrics } from '../../activities/model-kinds/intent-routing/evaluation';
import { IntentOptions, SPLIT, splitOf } from '../../activities/model-kinds/intent-routing/protocol';
import { DEFAULT_UTTERANCE_SIMULATION, simulateUtterances, SYNTHETIC_INTENTS } from '../../activities/model-kinds/intent-routing/synthetic';
import { fitTokenizer, HashingParams, Tokenizer, words } from '../../ml/text/tokenizer';
import { fitLogisticRegression, fitTemperature, IntentHyperparameters, LogisticHyperparameters, trainIntentNetwork, type Checkpoint } from '../../ml/text/intent-model';
import { selectBackend } from '../../ml/backend';
import { intentFeedback } from '../../activities/model-kinds/intent-routing/feedback';
import type { KindRuntime } from '../../activities/model-kinds/contract';
import type { PreprocessResult } from '../../schemas/steps';
import type { FeedbackConfig } from '../../schemas/lifecycle-input';
import { describeRequestIssue } from '../../schemas/serving';
import { accuracy, expectedCalibrationError, macroF1, routingAt, routingThreshold } from '../../ml/text/metrics';

const params = HashingParams.parse({ minDocumentFrequency: 1 });

describe('intent-routing rows', () => {
  it('quarantines empty, over-length and badly encoded texts, naming row and field; keeps unlabelled rows', async () => {
    const long = 'a'.repeat(2001);
    const csv = Buffer.concat([
      Buffer.from(`text,intent,conversation_id,language,timestamp\nwhere is my order,order_status,c1,en,2026-06-01T10:00:00Z\n"  ",order_status,,,\n${long},refund_request,,,\n`),
      Buffer.from('caf'),
      Buffer.from([0xe9]), // Latin-1 é: not UTF-8
      Buffer.from(' order,order_status,,,\n我的订单在哪里,,c2,zh,\n'),
    ]);
    const parsed = await parseRawFile('messages.csv', csv, UtteranceRow, REQUIRED_UTTERANCE_COLUMNS);
    assert.equal(parsed.totalRows, 5);
    assert.deepEqual(parsed.problems.map((p) => [p.row, p.field]), [[2, 'text'], [3, 'text'], [4, 'text']]);
    assert.match(parsed.problems[0].message, /empty/);
    assert.match(parsed.problems[1].message, /at most 2000/);
    assert.match(parsed.problems[2].message, /UTF-8/);
    assert.deepEqual(parsed.rows.map((r) => [r.text, r.intent, r.language]), [['where is my order', 'order_status', 'en'], ['我的订单在哪里', null, 'zh']]);
    assert.equal(parsed.rows[0].timestamp, Date.UTC(2026, 5, 1, 10));
  });

  it('refuses an unknown split and a malformed language tag', () => {
    const bad = UtteranceRow.safeParse({ text: 'hi', split: 'dev', language: 'english!' });
    assert.equal(bad.success, false);
    assert.deepEqual(bad.error!.issues.map((i) => i.path.join('.')).sort(), ['language', 'split']);
  });

  it('keeps a conversation, and every copy of a text, in one split; honours a given split', () => {
    const options = IntentOptions.parse({});
    const a = splitOf({ text: 'Where is my ORDER', conversation_id: null, split: null }, options);
    assert.equal(splitOf({ text: 'where is my order', conversation_id: null, split: null }, options), a);
    assert.equal(splitOf({ text: 'anything', conversation_id: null, split: 'test' }, options), SPLIT.test);
    assert.notEqual(splitOf({ text: 'anything', conversation_id: null, split: 'train' }, options), SPLIT.test);
    const shares = [0, 0, 0];
    for (let i = 0; i < 4000; i++) shares[splitOf({ text: `t${i}`, conversation_id: null, split: null }, options)]++;
    assert.ok(Math.abs(shares[SPLIT.test] / 4000 - 0.2) < 0.03, String(shares));
  });
});

describe('intent-routing requests', () => {
  const fieldOf = (body: unknown, maxChars = 20) => {
    const parsed = parseTexts(body, maxChars);
    return parsed.success ? null : describeRequestIssue(parsed.error).field;
  };

  it('takes one text or a batch; an empty, oversize or unknown field is named', () => {
    assert.equal(fieldOf({ text: 'where is my order' }), null);
    assert.equal(fieldOf([{ text: 'a' }, { text: 'b', conversation_id: 'c1' }]), null);
    assert.equal(fieldOf({ text: '   ' }), 'text');
    assert.equal(fieldOf({ text: 'x'.repeat(21) }), 'text');
    assert.equal(fieldOf([{ text: 'fine' }, { text: '' }]), '[1].text');
    assert.equal(fieldOf({ surprise: true }), 'text');
    assert.equal(fieldOf(Array.from({ length: 101 }, () => ({ text: 'x' }))), '(body)');
  });
});

describe('intent tokenizer', () => {
  it('splits Chinese and Japanese runs into characters and keeps spaced words whole', () => {
    assert.deepEqual(words('我的订单在哪里? Order #123').map((w) => w.token), ['我', '的', '订', '单', '在', '哪', '里', 'order', '123']);
    assert.deepEqual(words('注文はどこ').map((w) => w.token), ['注', '文', 'は', 'ど', 'こ']);
    assert.deepEqual(words('ＡＢＣ Don’t').map((w) => w.token), ['abc', 'dont'], 'NFKC, case folding, apostrophes');
  });

  it('encodes Chinese text to features: character unigrams and bigrams', () => {
    const tokenizer = new Tokenizer(fitTokenizer(['我的订单在哪里', '退款还没收到'], params));
    const encoded = tokenizer.encode('订单在哪里');
    assert.equal(encoded.indices.length, 5 + 4, 'five characters and four bigrams');
    assert.ok(Math.abs(Math.hypot(...encoded.weights) - 1) < 1e-5, 'L2-normalised');
    assert.equal(encoded.unknownWords, 0);
    assert.equal(tokenizer.encode('订单很好').unknownWords, 2);
  });

  it('gives serving the same ids as the batch path, through the saved artifact', () => {
    const texts = simulateUtterances({ ...DEFAULT_UTTERANCE_SIMULATION, conversations: 200, chineseShare: 0.2, germanShare: 0.2, typoShare: 0.3, seed: 3 }).map((u) => u.text);
    const spec = fitTokenizer(texts.slice(0, 150), HashingParams.parse({}));
    const batch = new Tokenizer(spec).encodeAll(texts);
    // Serving rebuilds the tokenizer from the model's config, a JSON round trip.
    const serving = new Tokenizer(JSON.parse(JSON.stringify(spec)));
    texts.forEach((text, i) => {
      const online = serving.encode(text);
      assert.deepEqual(Array.from(online.indices), Array.from(batch[i].indices), text);
      assert.deepEqual(Array.from(online.weights), Array.from(batch[i].weights), text);
    });
    const fitted = new Tokenizer(fitTokenizer(texts, params));
    assert.ok(fitted.encodeAll(texts).every((e) => e.indices.length > 0), 'every text, Chinese too, has features');
  });
});

describe('intent metrics', () => {
  const labels = Int32Array.from([0, 0, 1, 1, 2, 2]);
  const predicted = Int32Array.from([0, 1, 1, 1, 2, 0]);

  it('accuracy and macro-F1', () => {
    assert.equal(accuracy(labels, predicted), 4 / 6);
    // Per class F1: 0: tp1 fp1 fn1 = 0.5; 1: tp2 fp1 fn0 = 0.8; 2: tp1 fp0 fn1 = 2/3.
    assert.ok(Math.abs(macroF1(labels, predicted, 3) - (0.5 + 0.8 + 2 / 3) / 3) < 1e-12);
  });

  it('expected calibration error', () => {
    const confidence = Float32Array.from([0.95, 0.95, 0.95, 0.95, 0.55, 0.55]);
    // Bin of 0.95: 3 right of 4 -> |0.75 - 0.95| * 4/6; bin of 0.55: 1 of 2 -> |0.5 - 0.55| * 2/6.
    const expected = (Math.abs(0.75 - 0.95) * 4) / 6 + (Math.abs(0.5 - 0.55) * 2) / 6;
    assert.ok(Math.abs(expectedCalibrationError(Int32Array.from([0, 0, 0, 1, 0, 1]), { predicted: Int32Array.from([0, 0, 0, 0, 0, 0]), confidence }) - expected) < 1e-6);
  });

  it('routing threshold: the largest confident share meeting the target, ties together', () => {
    const confidence = Float32Array.from([0.99, 0.98, 0.9, 0.9, 0.6, 0.5]);
    const right = [true, true, true, false, true, false];
    const correct = (i: number) => right[i];
    assert.equal(routingThreshold(confidence, correct, 1), Math.fround(0.98));
    assert.equal(routingThreshold(confidence, correct, 0.85), Math.fround(0.98), 'the two rows at 0.9 (one wrong) go together');
    assert.equal(routingThreshold(confidence, correct, 0.8), Math.fround(0.6), 'top five: 4/5 right');
    assert.equal(routingThreshold(confidence, () => false, 0.5), Number.POSITIVE_INFINITY);
    assert.deepEqual(routingAt(Math.fround(0.9), confidence, correct), { coverage: 4 / 6, autoAccuracy: 3 / 4 });
  });

  it('out-of-scope recall: out-of-scope rows recognised or routed to a person', () => {
    // Class 2 is out of scope. Rows: oos predicted oos (person reached), oos predicted 0 with low confidence (routed), oos predicted 0 confidently (missed).
    const probabilities = Float32Array.from([0.1, 0.1, 0.8, 0.5, 0.3, 0.2, 0.95, 0.03, 0.02, 0.9, 0.05, 0.05]);
    const metrics = intentMetrics(Int32Array.from([2, 2, 2, 0]), probabilities, 3, 0.7, 2);
    assert.equal(metrics.oosRecall, 2 / 3);
    assert.equal(intentMetrics(Int32Array.from([2, 2, 2, 0]), probabilities, 3, 0.7).oosRecall, undefined);
  });

  it('temperature scaling recovers the temperature of the data', () => {
    // Labels drawn from softmax(z / 2): the NLL-optimal temperature for logits z is about 2.
    let seed = 1;
    const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
    const rows = 4000;
    const logits = Float32Array.from({ length: rows * 3 }, () => (random() - 0.5) * 12);
    const labels = new Int32Array(rows);
    for (let r = 0; r < rows; r++) {
      const p = [0, 1, 2].map((c) => Math.exp(logits[r * 3 + c] / 2));
      const total = p[0] + p[1] + p[2];
      const u = random() * total;
      labels[r] = u < p[0] ? 0 : u < p[0] + p[1] ? 1 : 2;
    }
    const t = fitTemperature(logits, labels, 3);
    assert.ok(t > 1.8 && t < 2.2, String(t));
  });
});

describe('intent model', () => {
  before(async () => {
    await selectBackend();
  });
  const rows = simulateUtterances({ ...DEFAULT_UTTERANCE_SIMULATION, conversations: 600, unlabelledShare: 0, vagueShare: 0, mislabelShare: 0, seed: 11 });
  const options = IntentOptions.parse({});
  const split = rows.map((r) => splitOf({ text: r.text, conversation_id: r.conversation_id, split: null }, options));
  const intents = [...SYNTHETIC_INTENTS].sort();
  const tokenizer = new Tokenizer(fitTokenizer(rows.filter((_, i) => split[i] === SPLIT.train).map((r) => r.text), HashingParams.parse({})));
  const of = (s: number) => {
    const picked = rows.filter((_, i) => split[i] === s);
    return { texts: tokenizer.encodeAll(picked.map((r) => r.text)), labels: Int32Array.from(picked, (r) => intents.indexOf(r.intent!)) };
  };
  const [train, validation, test] = [of(SPLIT.train), of(SPLIT.validation), of(SPLIT.test)];

  it('trains on a small multilingual set, far above chance; serving classifies with the routing threshold', async () => {
    const hp = IntentHyperparameters.parse({ hiddenLayers: [32], epochs: 15, batchSize: 32 });
    const result = await trainIntentNetwork({ hyperparameters: hp, features: tokenizer.features, intents, train, validation });
    const probabilities = result.network.predict(test.texts);
    const threshold = chooseThreshold(validation.labels, result.network.predict(validation.texts), intents.length, 0.9);
    const metrics = intentMetrics(test.labels, probabilities, intents.length, threshold);
    assert.ok(metrics.accuracy > 0.8, JSON.stringify(metrics));
    assert.ok(result.network.config.temperature > 0 && Number.isFinite(result.network.config.temperature));
    assert.ok(result.bestEpoch >= 1 && result.history.length >= result.bestEpoch);

    const config: IntentModelConfig = { ...result.network.config, tokenizer: tokenizer.spec, threshold, targetAutoAccuracy: 0.9, maxTextChars: 1000 };
    const tensors = Object.fromEntries(result.network.namedWeights().map(({ name, tensor }) => [name, tf.clone(tensor)]));
    const loaded = loadIntentModel({ bundle: { config: JSON.parse(JSON.stringify(config)), tensors, weightsSha256: 'x', metadata: {} } });
    const [english, chinese] = classify(loaded, ['hi, where is my order #123456?', '我的包裹还没到']);
    assert.equal(english.intent, 'order_status');
    assert.equal(chinese.intent, 'delivery_delay');
    assert.equal(english.intents.length, 3);
    assert.ok(english.intents[0].probability >= english.intents[1].probability);
    assert.equal(english.route, threshold !== null && english.confidence >= threshold ? 'auto' : 'human');
    // Serving's plain-JavaScript network gives the trained tfjs network's probabilities, to float32 rounding.
    const served = loaded.network.predict(test.texts);
    probabilities.forEach((p, i) => assert.ok(Math.abs(p - served[i]) < 1e-5, `entry ${i}: ${served[i]} vs ${p}`));
    result.network.dispose();
  });

  it('resumes from a mid-epoch checkpoint to the same weights as an uninterrupted run', async () => {
    const hp = IntentHyperparameters.parse({ hiddenLayers: [16], epochs: 4, patience: 10, batchSize: 64 });
    const saved: Checkpoint[] = [];
    const checkpoints = {
      everySteps: 1,
      everySeconds: 3600,
      // The checkpoint's tensors are the live variables: copy them, as saving to S3 does.
      save: async (c: Checkpoint) => void saved.push({ state: structuredClone(c.state), tensors: c.tensors.map(({ name, tensor }) => ({ name, tensor: tf.clone(tensor) })) }),
    };
    const full = await trainIntentNetwork({ hyperparameters: hp, features: tokenizer.features, intents, train, validation, checkpoints });
    const afterSecond = saved.find((c) => c.state.epoch === 3 && c.state.position === 2)!;
    assert.ok(afterSecond, 'a checkpoint in epoch 3');
    const resumed = await trainIntentNetwork({ hyperparameters: hp, features: tokenizer.features, intents, train, validation, resumeFrom: afterSecond });
    assert.deepEqual(resumed.history.map((h) => h.validation), full.history.map((h) => h.validation));
    for (const { name, tensor } of full.network.namedWeights()) {
      const other = resumed.network.variables.get(name)!;
      assert.ok(tf.tidy(() => tf.max(tf.abs(tf.sub(tensor, other))).dataSync()[0]) < 1e-6, name);
    }
    assert.equal(resumed.network.config.temperature, full.network.config.temperature);
    full.network.dispose();
    resumed.network.dispose();
    for (const c of saved) tf.dispose(c.tensors.map((t) => t.tensor));
  });

  it('the logistic-regression baseline fits the same features', async () => {
    const network = await fitLogisticRegression({ hyperparameters: LogisticHyperparameters.parse({ epochs: 20 }), features: tokenizer.features, intents, train });
    const metrics = intentMetrics(test.labels, network.predict(test.texts), intents.length, null);
    assert.ok(metrics.accuracy > 0.8, JSON.stringify(metrics));
    assert.equal(metrics.coverage, 0, 'no threshold: everything goes to a person');
    network.dispose();
  });
});

describe('intent-routing feedback walk', () => {
  it('joins agent outcomes to answers by request and item, per version', () => {
    const logged: unknown[] = [];
    const rt = { log: { info: (details: unknown) => logged.push(details) } } as unknown as KindRuntime;
    const walk = intentFeedback.start(rt, {} as PreprocessResult, {} as FeedbackConfig);
    const prediction = (version: string, request: string, item: number, predicted: string, route: 'auto' | 'human') =>
      walk.add({ type: 'prediction', model_version: version, request_id: request, item, predicted_intent: predicted, confidence: 0.9, route, words: 4, unknown_words: 1, timestamp: Date.UTC(2026, 5, 1) });
    prediction('v1', 'r1', 0, 'refund_status', 'auto');
    prediction('v1', 'r1', 1, 'order_status', 'human');
    prediction('v1', 'r2', 0, 'order_status', 'auto');
    prediction('v2', 'r3', 0, 'promo_code', 'auto');
    walk.add({ type: 'intent_confirmed', model_version: 'v1', request_id: 'r1', item: 0, intent: null, timestamp: Date.UTC(2026, 5, 1, 1) });
    walk.add({ type: 'intent_corrected', model_version: 'v1', request_id: 'r1', item: 1, intent: 'delivery_delay', timestamp: Date.UTC(2026, 5, 1, 1) });
    walk.add({ type: 'intent_corrected', model_version: 'v1', request_id: 'r9', item: 0, intent: 'delivery_delay', timestamp: Date.UTC(2026, 5, 1, 1) });
    walk.endDay();
    const perVersion = walk.perVersion();
    assert.deepEqual(perVersion.v1.metrics, { autoShare: 2 / 3, outcomes: 2, corrections: 1, onlineAccuracy: 0.5 });
    assert.equal(perVersion.v1.requests, 3);
    assert.deepEqual(perVersion.v2.metrics, { autoShare: 1, outcomes: 0, corrections: 0 }, 'no outcome: no online accuracy');
    assert.deepEqual(logged, [{ corrected: { 'order_status -> delivery_delay': 1 } }]);
  });
});
