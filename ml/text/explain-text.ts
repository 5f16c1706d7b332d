/** Word-level explanations of the bag-of-features text networks (intents, product categories from titles). */
import { ranked, type Attribution } from '../explain';
import type { IntentScorer } from './intent-scorer';
import type { Tokenizer } from './tokenizer';

/** The words of `text` by their share of class `classIndex`'s temperature-scaled logit (integrated gradients), largest magnitude first. */
export function explainText(tokenizer: Tokenizer, network: IntentScorer, text: string, classIndex: number): Attribution[] {
  if (classIndex < 0) throw new Error('the class to explain is not one of the network\'s');
  const encoded = tokenizer.encode(text);
  const entries = network.entryAttributions(encoded, classIndex);
  const { words, attributions } = tokenizer.wordAttributions(text, encoded, entries);
  return ranked(words, attributions);
}
