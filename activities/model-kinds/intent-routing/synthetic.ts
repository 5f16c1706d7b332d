/**
 * The embedded default data for intent routing: a store's customer-service messages, one
 * JSONL file per week. Each intent has paraphrase templates with slots (products, order
 * numbers, days), some written in Chinese, some in German; a share of messages carry typos;
 * some rows come without an intent (traffic nobody labelled). As in a real queue, a few
 * intents make up most of the traffic (Zipf-like shares), a conversation may open with a
 * vague message that only its intent's later turns explain, and agents mislabel a small
 * share. Intents share words on purpose (refund request and refund status, late delivery
 * and order status), so the task is not solved by one keyword.
 */
import { seededRng, type Rng } from '../../../ml/random';
import type { RawFile } from '../contract';

const PRODUCTS = ['shoes', 'jacket', 'phone case', 'headphones', 'coffee maker', 'backpack', 'dress', 'lamp', 'blender', 'watch', 'sofa cushion', 't-shirt'];
const PRODUCTS_ZH = ['鞋子', '外套', '手机壳', '耳机', '咖啡机', '背包', '裙子', '台灯'];
const PRODUCTS_DE = ['Schuhe', 'Jacke', 'Kopfhörer', 'Rucksack', 'Lampe', 'Uhr'];
const DAYS = ['two days', 'a week', 'ten days', 'three weeks', 'monday', 'last friday'];

/** Templates per intent: `{p}` a product, `{o}` an order number, `{d}` a span of days. */
const TEMPLATES: Record<string, { en: string[]; zh: string[]; de: string[] }> = {
  order_status: {
    en: ['where is my order {o}', 'can you tell me the status of order {o}', 'has my {p} order shipped yet', 'what is happening with my order', 'i want to track my order {o}', 'is my {p} on its way', 'how do i check where my order is', 'order {o} status please'],
    zh: ['我的订单{o}在哪里', '请问我的订单状态', '我的{p}发货了吗'],
    de: ['wo ist meine Bestellung {o}', 'wurde meine Bestellung schon versendet'],
  },
  delivery_delay: {
    en: ['my order {o} is late', 'the {p} should have arrived {d} ago', 'delivery is taking too long', 'i have been waiting {d} for my package', 'why has my parcel not arrived yet', 'the courier never came with my {p}', 'my package is overdue by {d}', 'still no delivery after {d}'],
    zh: ['我的包裹还没到', '快递太慢了，已经等了很久', '{p}应该早就到了'],
    de: ['mein Paket ist seit {d} überfällig', 'die Lieferung dauert zu lange'],
  },
  cancel_order: {
    en: ['please cancel my order {o}', 'i want to cancel the {p} i ordered', 'can i still cancel order {o}', 'cancel my purchase please', 'i changed my mind, cancel the {p}', 'how do i cancel an order', 'stop my order {o} before it ships'],
    zh: ['请取消我的订单{o}', '我想取消购买的{p}', '怎么取消订单'],
    de: ['bitte stornieren Sie meine Bestellung {o}', 'ich möchte die {p} stornieren'],
  },
  refund_request: {
    en: ['i want a refund for my {p}', 'please refund order {o}', 'can i get my money back for the {p}', 'i would like to request a refund', 'give me a refund, the {p} is not what i expected', 'how do i ask for a refund on order {o}'],
    zh: ['我要退款', '请给我的{p}退款', '我想申请退款'],
    de: ['ich möchte eine Rückerstattung für {p}', 'bitte erstatten Sie mir das Geld'],
  },
  refund_status: {
    en: ['when will i get my refund', 'my refund for order {o} has not arrived', 'i returned the {p} {d} ago but no refund yet', 'where is my refund', 'how long does a refund take', 'the refund still does not show on my card'],
    zh: ['我的退款什么时候到账', '退款还没收到', '退款要多久'],
    de: ['wann bekomme ich meine Rückerstattung', 'die Rückerstattung ist noch nicht angekommen'],
  },
  return_item: {
    en: ['how do i return the {p}', 'i want to send back my {p}', 'can i return an item after {d}', 'i need a return label for order {o}', 'what is your return policy', 'the {p} does not fit, i want to return it'],
    zh: ['我想退货', '{p}怎么退回', '退货政策是什么'],
    de: ['wie kann ich die {p} zurückschicken', 'ich brauche ein Rücksendeetikett'],
  },
  damaged_item: {
    en: ['my {p} arrived broken', 'the {p} is damaged', 'the box was crushed and the {p} is cracked', 'i received a damaged {p}', 'the {p} stopped working after one day', 'there is a scratch on my new {p}'],
    zh: ['收到的{p}坏了', '{p}有破损', '商品到货就是坏的'],
    de: ['die {p} ist kaputt angekommen', 'meine {p} ist beschädigt'],
  },
  wrong_item: {
    en: ['i received the wrong item', 'this is not the {p} i ordered', 'you sent me a different {p}', 'wrong size in order {o}', 'the package had someone else\'s {p}', 'i got the wrong colour of {p}'],
    zh: ['收到的商品不对', '这不是我买的{p}', '发错货了'],
    de: ['ich habe den falschen Artikel bekommen', 'das ist nicht die {p}, die ich bestellt habe'],
  },
  payment_declined: {
    en: ['my card was declined', 'payment failed when i tried to buy the {p}', 'why was my payment rejected', 'i cannot pay, the card keeps getting declined', 'checkout says payment declined', 'my credit card payment did not go through twice'],
    zh: ['我的卡被拒绝了', '付款失败了', '支付不成功'],
    de: ['meine Karte wurde abgelehnt', 'die Zahlung ist fehlgeschlagen'],
  },
  change_address: {
    en: ['i need to change my delivery address', 'can you ship order {o} to a different address', 'i moved, please update my address', 'wrong address on my order {o}', 'change the shipping address for the {p}'],
    zh: ['我要修改收货地址', '地址填错了', '请把订单{o}寄到新地址'],
    de: ['ich muss meine Lieferadresse ändern', 'bitte schicken Sie die Bestellung an eine andere Adresse'],
  },
  account_login: {
    en: ['i cannot log in to my account', 'i forgot my password', 'my account is locked', 'the reset password email never arrives', 'how do i change my email address on my account', 'login keeps failing'],
    zh: ['我登录不了账户', '忘记密码了', '账户被锁定了'],
    de: ['ich kann mich nicht anmelden', 'ich habe mein Passwort vergessen'],
  },
  product_question: {
    en: ['is the {p} waterproof', 'what size should i order for the {p}', 'do you have the {p} in black', 'is the {p} in stock', 'how big is the {p}', 'does the {p} come with a warranty'],
    zh: ['{p}防水吗', '{p}有黑色的吗', '{p}有货吗'],
    de: ['ist die {p} wasserdicht', 'gibt es die {p} auch in schwarz'],
  },
  promo_code: {
    en: ['my discount code does not work', 'how do i use a promo code', 'the coupon was not applied to order {o}', 'is there a discount on the {p}', 'the voucher says expired'],
    zh: ['优惠码不能用', '怎么使用优惠券', '折扣没有生效'],
    de: ['mein Gutscheincode funktioniert nicht', 'wie löse ich einen Rabattcode ein'],
  },
};

export const SYNTHETIC_INTENTS = Object.keys(TEMPLATES);

/** Openers that say nothing of the intent; the conversation's label still applies to them. */
const VAGUE = ['hello?', 'hi, i need help', 'i have a problem', 'can someone help me', 'question about my order', 'hello, are you there', '你好', '有人吗', 'hallo, ich brauche Hilfe'];

/** The i-th intent's share of conversations is proportional to (i + 1)^-1.5: order status is 47 times as common as promo codes. */
function intentPicker(rng: Rng): () => string {
  const weights = SYNTHETIC_INTENTS.map((_, i) => (i + 1) ** -1.5);
  const total = weights.reduce((a, b) => a + b, 0);
  return () => {
    let u = rng() * total;
    for (let i = 0; i < weights.length; i++) if ((u -= weights[i]) < 0) return SYNTHETIC_INTENTS[i];
    return SYNTHETIC_INTENTS[SYNTHETIC_INTENTS.length - 1];
  };
}

const OPENERS = ['', '', '', 'hi, ', 'hello, ', 'hey ', 'good morning, ', 'excuse me, '];
const CLOSERS = ['', '', '', '?', '!', ' thanks', ' please help', ' asap', '...'];

const pick = <T>(rng: Rng, values: readonly T[]): T => values[Math.floor(rng() * values.length)];

/** One typo in a random word: a dropped, doubled or swapped letter. */
export function typo(text: string, rng: Rng): string {
  const words = text.split(' ');
  const w = Math.floor(rng() * words.length);
  const word = words[w];
  if (word.length < 4) return text;
  const i = 1 + Math.floor(rng() * (word.length - 2));
  const edit = rng();
  words[w] = edit < 0.33 ? word.slice(0, i) + word.slice(i + 1) : edit < 0.66 ? word.slice(0, i) + word[i] + word.slice(i) : word.slice(0, i - 1) + word[i] + word[i - 1] + word.slice(i + 1);
  return words.join(' ');
}

export interface SyntheticUtterance {
  text: string;
  intent: string | null;
  conversation_id: string;
  language: string;
  timestamp: string;
}

export interface UtteranceSimulation {
  conversations: number;
  /** Share of messages in Chinese and in German. */
  chineseShare: number;
  germanShare: number;
  typoShare: number;
  unlabelledShare: number;
  /** Share of conversations that open with a vague message, and of labels an agent got wrong. */
  vagueShare: number;
  mislabelShare: number;
  seed: number;
  start: string;
  days: number;
}

export const DEFAULT_UTTERANCE_SIMULATION: UtteranceSimulation = { conversations: 2400, chineseShare: 0.12, germanShare: 0.08, typoShare: 0.25, unlabelledShare: 0.05, vagueShare: 0.05, mislabelShare: 0.01, seed: 7, start: '2026-06-01T00:00:00Z', days: 28 };

export function simulateUtterances(options: UtteranceSimulation = DEFAULT_UTTERANCE_SIMULATION): SyntheticUtterance[] {
  const rng = seededRng(`intent-synthetic-${options.seed}`);
  const startMs = Date.parse(options.start);
  const out: SyntheticUtterance[] = [];
  const nextIntent = intentPicker(rng);
  for (let c = 0; c < options.conversations; c++) {
    const intent = nextIntent();
    const vague = rng() < options.vagueShare;
    const atMs = startMs + Math.floor(rng() * options.days * 86_400_000);
    // A conversation has one to three messages about the same intent.
    const messages = 1 + Math.floor(rng() * rng() * 3);
    for (let m = 0; m < messages; m++) {
      const draw = rng();
      const language = draw < options.chineseShare ? 'zh' : draw < options.chineseShare + options.germanShare ? 'de' : 'en';
      const templates = TEMPLATES[intent][language as 'en' | 'zh' | 'de'];
      const products = language === 'zh' ? PRODUCTS_ZH : language === 'de' ? PRODUCTS_DE : PRODUCTS;
      let text = (m === 0 && vague ? pick(rng, VAGUE) : pick(rng, templates))
        .replace('{p}', pick(rng, products))
        .replace('{o}', `#${100000 + Math.floor(rng() * 900000)}`)
        .replace('{d}', pick(rng, DAYS));
      if (language === 'en') text = `${pick(rng, OPENERS)}${text}${pick(rng, CLOSERS)}`;
      if (language !== 'zh' && rng() < options.typoShare) text = typo(text, rng);
      out.push({
        text,
        intent: rng() < options.unlabelledShare ? null : rng() < options.mislabelShare ? pick(rng, SYNTHETIC_INTENTS) : intent,
        conversation_id: `conv-${c}`,
        language,
        timestamp: new Date(atMs + m * 60_000).toISOString(),
      });
    }
  }
  return out.sort((a, b) => a.timestamp.localeCompare(b.timestamp));
}

/** Rows as one JSONL file per ISO week (Monday first) of their timestamp, `<prefix>-week-<monday>.jsonl`, as a store's export job would write them. */
export function weeklyJsonlFiles<Row extends { timestamp: string }>(source: string, prefix: string, rows: readonly Row[]): RawFile[] {
  const weeks = new Map<string, Row[]>();
  for (const row of rows) {
    const day = new Date(row.timestamp);
    day.setUTCDate(day.getUTCDate() - ((day.getUTCDay() + 6) % 7));
    const week = day.toISOString().slice(0, 10);
    const members = weeks.get(week);
    if (members) members.push(row);
    else weeks.set(week, [row]);
  }
  return [...weeks].map(([week, members]) => ({
    source,
    name: `${prefix}-week-${week}.jsonl`,
    contentType: 'application/x-ndjson',
    rows: members.length,
    body: members.map((row) => JSON.stringify(row)).join('\n') + '\n',
  }));
}

export function syntheticUtteranceFiles(options: UtteranceSimulation = DEFAULT_UTTERANCE_SIMULATION): RawFile[] {
  return weeklyJsonlFiles('utterances', 'messages', simulateUtterances(options));
}
