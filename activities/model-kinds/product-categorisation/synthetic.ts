/**
 * The embedded default data for product categorisation: merchants' offers for a synthetic
 * store catalogue, one JSONL file per week. Every catalogue item is a brand, a series, a
 * model code (its letters tell the product line, as real appliance codes do), and fixed
 * attributes (storage, size, capacity, colour); merchants list it under noisy titles of
 * their own style: which parts they name and in which order, letter case, marketing words,
 * a typo now and then, and a few merchants write in German. Categories overlap on purpose:
 * fridges, freezers and fridge freezers share brands, sizes and words, phone cases name the
 * phone they fit, so no single word settles the category. Popular items have many offers,
 * most only one or two (many test offers are of products training never saw); some offers
 * carry no category or no product (unlabelled traffic) and a few are filed wrong.
 * Some offers come with a small generated photo of their category (ml/vision/synthetic-images.ts:
 * a shape and a hue per category), uploaded to the dataset's image folder; a few of those
 * photos are broken on purpose (cut off, not an image, missing), which preprocess quarantines.
 */
import { seededRng, type Rng } from '../../../ml/random';
import { encodePngSync, syntheticImagePixels } from '../../../ml/vision/synthetic-images';
import { typo, weeklyJsonlFiles } from '../intent-routing/synthetic';
import type { RawFile } from '../contract';

interface CategorySpec {
  name: string;
  /** The category words merchants use, English then German. */
  words: [string[], string[]];
  brands: string[];
  series: string[];
  /** Model-code prefixes of this product line (per brand family). */
  codes: string[];
  /** Attribute slots: each item draws one value of each. */
  attributes: string[][];
}

const COLOURS = ['black', 'white', 'silver', 'stainless steel', 'graphite', 'blue', 'red', 'gold'];
const COLOURS_DE: Record<string, string> = { black: 'schwarz', white: 'weiss', silver: 'silber', 'stainless steel': 'edelstahl', graphite: 'graphit', blue: 'blau', red: 'rot', gold: 'gold' };
const APPLIANCE_BRANDS = ['Bosch', 'Siemens', 'Samsung', 'LG', 'Beko', 'Hotpoint', 'Indesit', 'Miele', 'AEG', 'Zanussi', 'Smeg', 'Liebherr'];

const CATEGORIES: CategorySpec[] = [
  { name: 'Mobile Phones', words: [['smartphone', 'mobile phone', 'phone', 'sim free', 'unlocked'], ['Handy', 'Smartphone']], brands: ['Apple', 'Samsung', 'Huawei', 'Xiaomi', 'Sony', 'Nokia', 'Motorola', 'OnePlus'], series: ['Galaxy', 'iPhone', 'Xperia', 'Mate', 'Redmi', 'Moto', 'Pixel', 'Nord'], codes: ['SM-G', 'MQ', 'XQ-', 'ELE-', 'M20'], attributes: [['32GB', '64GB', '128GB', '256GB'], COLOURS, ['4G', '5G', 'dual sim']] },
  { name: 'Phone Cases', words: [['case', 'cover', 'flip case', 'phone case'], ['Hülle', 'Schutzhülle']], brands: ['Spigen', 'OtterBox', 'Samsung', 'Apple', 'Belkin', 'Tech21'], series: ['Galaxy', 'iPhone', 'Xperia', 'Mate', 'Redmi', 'Pixel'], codes: ['ACS', 'EF-', 'MX', '77-'], attributes: [['silicone', 'leather', 'clear', 'rugged'], COLOURS, ['for 64GB', 'slim', 'wallet']] },
  { name: 'TVs', words: [['tv', 'smart tv', '4k uhd tv', 'led tv', 'television'], ['Fernseher', 'Smart-TV']], brands: ['Samsung', 'LG', 'Sony', 'Philips', 'Panasonic', 'Hisense', 'TCL'], series: ['Bravia', 'QLED', 'OLED', 'Ambilight', 'NanoCell', 'Viera'], codes: ['UE', 'OLED', 'KD-', 'PUS', 'TX-'], attributes: [['43"', '50"', '55"', '65"', '75"'], ['4K', 'UHD', 'HDR', 'Full HD'], COLOURS] },
  { name: 'Headphones', words: [['headphones', 'wireless headphones', 'earbuds', 'headset'], ['Kopfhörer']], brands: ['Sony', 'Bose', 'Sennheiser', 'JBL', 'Apple', 'Samsung', 'Beats'], series: ['QuietComfort', 'AirPods', 'Momentum', 'Tune', 'Galaxy Buds', 'Studio'], codes: ['WH-', 'QC', 'MTW', 'T5', 'SM-R'], attributes: [['bluetooth', 'noise cancelling', 'over-ear', 'in-ear'], COLOURS, ['30h battery', 'with mic', 'true wireless']] },
  { name: 'Digital Cameras', words: [['digital camera', 'camera', 'dslr', 'mirrorless camera', 'compact camera'], ['Digitalkamera', 'Kamera']], brands: ['Canon', 'Nikon', 'Sony', 'Fujifilm', 'Panasonic', 'Olympus'], series: ['EOS', 'Coolpix', 'Alpha', 'X-T', 'Lumix', 'PowerShot'], codes: ['EOS ', 'D', 'ILCE-', 'X-T', 'DC-'], attributes: [['20.1MP', '24.2MP', '16MP', '45MP'], ['body only', 'with 18-55mm lens', 'kit', '4k video'], COLOURS] },
  { name: 'Fridges', words: [['fridge', 'larder fridge', 'refrigerator', 'under counter fridge'], ['Kühlschrank']], brands: APPLIANCE_BRANDS, series: ['Serie 4', 'iQ300', 'Frost Free', 'NoFrost', 'Classic'], codes: ['KSV', 'KIR', 'RR', 'LS', 'GTP'], attributes: [['60cm', '55cm', '70cm'], ['A++', 'A+', 'E'], COLOURS] },
  { name: 'Freezers', words: [['freezer', 'upright freezer', 'chest freezer', 'tall freezer'], ['Gefrierschrank', 'Gefriertruhe']], brands: APPLIANCE_BRANDS, series: ['Serie 4', 'iQ300', 'Frost Free', 'NoFrost', 'Classic'], codes: ['GSN', 'GIV', 'RZ', 'FS', 'GNP'], attributes: [['60cm', '55cm', '70cm'], ['A++', 'A+', 'E'], COLOURS] },
  { name: 'Fridge Freezers', words: [['fridge freezer', 'american fridge freezer', 'frost free fridge freezer', '70/30 fridge freezer'], ['Kühl-Gefrierkombination', 'Kühlgefrierkombi']], brands: APPLIANCE_BRANDS, series: ['Serie 4', 'iQ300', 'Frost Free', 'NoFrost', 'Classic'], codes: ['KGN', 'KG', 'RB', 'GBB', 'CN'], attributes: [['60cm', '55cm', '70cm'], ['A++', 'A+', 'E'], COLOURS] },
  { name: 'Washing Machines', words: [['washing machine', 'washer', 'freestanding washing machine'], ['Waschmaschine']], brands: APPLIANCE_BRANDS, series: ['Serie 6', 'iQ500', 'EcoBubble', 'AddWash', 'ProSteam'], codes: ['WAT', 'WM', 'WW', 'F4', 'L7F'], attributes: [['7kg', '8kg', '9kg', '10kg'], ['1400 rpm', '1200 rpm', '1600 rpm'], COLOURS] },
  { name: 'Dishwashers', words: [['dishwasher', 'integrated dishwasher', 'slimline dishwasher'], ['Geschirrspüler', 'Spülmaschine']], brands: APPLIANCE_BRANDS, series: ['Serie 4', 'iQ300', 'SuperSilence', 'AutoDose', 'Quiet'], codes: ['SMS', 'SN', 'DW', 'G7', 'FSE'], attributes: [['12 place settings', '13 place settings', '14 place settings', '9 place settings'], ['60cm', '45cm'], COLOURS] },
  { name: 'Microwaves', words: [['microwave', 'combination microwave', 'solo microwave', 'microwave oven'], ['Mikrowelle']], brands: ['Panasonic', 'Samsung', 'Sharp', 'Bosch', 'Russell Hobbs', 'Daewoo', 'Whirlpool'], series: ['Inverter', 'Grill', 'Combi', 'Solo', 'Crisp'], codes: ['NN-', 'MS', 'R', 'HMT', 'MC'], attributes: [['800W', '900W', '1000W'], ['20L', '23L', '25L', '32L'], COLOURS] },
];

const MARKETING = ['new', 'free delivery', '2 year warranty', 'uk model', 'best price', 'in stock', 'official', '2019 model'];

const pick = <T>(rng: Rng, values: readonly T[]): T => values[Math.floor(rng() * values.length)];

export interface CatalogueItem {
  productId: string;
  category: string;
  brand: string;
  series: string;
  code: string;
  attributes: string[];
  /** Relative popularity: how many merchants list it. */
  popularity: number;
}

/** Merchant title styles. */
interface MerchantStyle {
  id: string;
  german: boolean;
  lowercase: boolean;
  /** Part order: brand, series, code, attributes, category word. */
  order: ('brand' | 'series' | 'code' | 'attributes' | 'word')[];
  namesCategory: number;
  marketing: number;
  typos: number;
}

export interface OfferSimulation {
  products: number;
  merchants: number;
  /** Share of merchants writing in German. */
  germanMerchants: number;
  unlabelledShare: number;
  noProductShare: number;
  mislabelShare: number;
  seed: number;
  start: string;
  days: number;
  /** Share of offers with a photo, its side in pixels, and how many photos are broken on purpose (of each kind). */
  photoShare: number;
  photoSize: number;
  brokenPhotos: number;
}

export const DEFAULT_OFFER_SIMULATION: OfferSimulation = { products: 2500, merchants: 60, germanMerchants: 0.15, unlabelledShare: 0.04, noProductShare: 0.04, mislabelShare: 0.01, seed: 7, start: '2026-06-01T00:00:00Z', days: 28, photoShare: 0.05, photoSize: 64, brokenPhotos: 2 };

export function syntheticCatalogue(options: OfferSimulation, rng: Rng): CatalogueItem[] {
  return Array.from({ length: options.products }, (_, p) => {
    const spec = CATEGORIES[p % CATEGORIES.length];
    const digits = String(100 + Math.floor(rng() * 9900));
    const suffix = pick(rng, ['', 'B', 'GB', 'W', 'S', 'X', 'UK', 'EU']);
    return {
      productId: `prod-${String(p + 1).padStart(5, '0')}`,
      category: spec.name,
      brand: pick(rng, spec.brands),
      series: pick(rng, spec.series),
      code: `${pick(rng, spec.codes)}${digits}${suffix}`,
      attributes: spec.attributes.map((values) => pick(rng, values)),
      // Zipf-like: a few items are listed by many merchants, most by one or two.
      popularity: 1 + Math.floor(8 / (1 + Math.floor(rng() * 12))),
    };
  });
}

function merchantStyles(options: OfferSimulation, rng: Rng): MerchantStyle[] {
  const orders: MerchantStyle['order'][] = [
    ['brand', 'series', 'code', 'attributes', 'word'],
    ['brand', 'code', 'word', 'attributes'],
    ['word', 'brand', 'series', 'attributes', 'code'],
    ['brand', 'series', 'attributes', 'word'],
    ['code', 'brand', 'attributes'],
    ['brand', 'word', 'series', 'code'],
  ];
  return Array.from({ length: options.merchants }, (_, m) => ({
    id: `merchant-${m + 1}`,
    german: rng() < options.germanMerchants,
    lowercase: rng() < 0.5,
    order: pick(rng, orders),
    namesCategory: 0.3 + rng() * 0.7,
    marketing: rng() * 0.4,
    typos: rng() * 0.3,
  }));
}

export function offerTitle(item: CatalogueItem, merchant: MerchantStyle, rng: Rng): string {
  const spec = CATEGORIES.find((c) => c.name === item.category)!;
  const attributes = item.attributes.filter(() => rng() < 0.7).map((a) => (merchant.german ? (COLOURS_DE[a] ?? a) : a));
  const parts: Record<MerchantStyle['order'][number], string> = {
    brand: item.brand,
    series: rng() < 0.8 ? item.series : '',
    code: rng() < 0.85 ? item.code : '',
    attributes: (rng() < 0.5 ? attributes.reverse() : attributes).join(' '),
    word: rng() < merchant.namesCategory ? pick(rng, spec.words[merchant.german ? 1 : 0]) : '',
  };
  // A title names the product line somehow: by its category word or by its model code.
  if (parts.word === '' || !merchant.order.includes('word')) parts.code = item.code;
  let title = merchant.order.map((part) => parts[part]).filter((s) => s !== '').join(rng() < 0.2 ? ' - ' : ' ');
  if (rng() < merchant.marketing) title = `${title} ${pick(rng, MARKETING)}`;
  if (merchant.lowercase) title = title.toLowerCase();
  if (rng() < merchant.typos) title = typo(title, rng);
  return title;
}

export interface SyntheticOffer {
  offer_id: string;
  title: string;
  merchant_id: string;
  category: string | null;
  product_id: string | null;
  price: number;
  /** Key of its photo in the dataset's image folder. */
  image?: string;
  timestamp: string;
}

export function simulateOffers(options: OfferSimulation = DEFAULT_OFFER_SIMULATION): SyntheticOffer[] {
  const rng = seededRng(`catalogue-synthetic-${options.seed}`);
  const items = syntheticCatalogue(options, rng);
  const merchants = merchantStyles(options, rng);
  const startMs = Date.parse(options.start);
  const out: SyntheticOffer[] = [];
  for (const item of items) {
    const basePrice = 20 + rng() * 1500;
    const listedBy = new Set<number>();
    while (listedBy.size < Math.min(item.popularity, merchants.length)) listedBy.add(Math.floor(rng() * merchants.length));
    for (const m of listedBy) {
      const merchant = merchants[m];
      out.push({
        offer_id: `offer-${out.length + 1}`,
        title: offerTitle(item, merchant, rng),
        merchant_id: merchant.id,
        category: rng() < options.unlabelledShare ? null : rng() < options.mislabelShare ? pick(rng, CATEGORIES).name : item.category,
        product_id: rng() < options.noProductShare ? null : item.productId,
        price: Math.round(basePrice * (0.9 + rng() * 0.2) * 100) / 100,
        timestamp: new Date(startMs + Math.floor(rng() * options.days * 86_400_000)).toISOString(),
      });
    }
  }
  return out.sort((a, b) => a.timestamp.localeCompare(b.timestamp));
}

export const SYNTHETIC_CATEGORIES = CATEGORIES.map((c) => c.name);

/** The raw folder of offer photos (activities/model-kinds/product-categorisation/images.ts reads `raw/<dataset>/images/`). */
export const PHOTO_SOURCE = 'images';
type PhotoDefect = 'truncated' | 'not-an-image' | 'missing';
const PHOTO_DEFECTS: PhotoDefect[] = ['truncated', 'not-an-image', 'missing'];

/**
 * Photos for a share of the offers, drawn from their own generator so the titles do not
 * depend on them: a picture of the item's true category (a mislabelled offer's photo still
 * shows what it is). The first few photos of each defect are broken.
 */
export function addSyntheticPhotos(offers: SyntheticOffer[], options: OfferSimulation): { offers: SyntheticOffer[]; files: RawFile[] } {
  const rng = seededRng(`catalogue-photos-${options.seed}`);
  const items = new Map(syntheticCatalogue(options, seededRng(`catalogue-synthetic-${options.seed}`)).map((item) => [item.productId, item]));
  const files: RawFile[] = [];
  let broken = 0;
  const withPhotos = offers.map((offer) => {
    const item = offer.product_id === null ? undefined : items.get(offer.product_id);
    if (!item || rng() >= options.photoShare) return offer;
    const image = `synthetic/${offer.offer_id}.png`;
    const defect = broken < options.brokenPhotos * PHOTO_DEFECTS.length ? PHOTO_DEFECTS[broken++ % PHOTO_DEFECTS.length] : undefined;
    const png = encodePngSync(syntheticImagePixels(SYNTHETIC_CATEGORIES.indexOf(item.category), options.photoSize, rng), options.photoSize);
    const body = defect === 'truncated' ? png.subarray(0, Math.floor(png.length / 2)) : defect === 'not-an-image' ? new TextEncoder().encode('<html>not a photo</html>') : png;
    if (defect !== 'missing') files.push({ source: PHOTO_SOURCE, name: image, body, contentType: 'image/png' });
    return { ...offer, image };
  });
  return { offers: withPhotos, files };
}

export function syntheticOfferFiles(options: OfferSimulation = DEFAULT_OFFER_SIMULATION): RawFile[] {
  const { offers, files } = addSyntheticPhotos(simulateOffers(options), options);
  return [...weeklyJsonlFiles('offers', 'offers', offers), ...files];
}
