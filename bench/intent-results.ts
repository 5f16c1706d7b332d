/**
 * The published BANKING77 rows, read at run time from ../shared/datasets/README.md: its
 * "Reported test accuracy:" clauses, "<model> [about] 93.66%".
 */
export function publishedIntentRows(readme: string): { model: string; accuracy: number }[] {
  const start = readme.indexOf('## banking77/');
  if (start < 0) return [];
  const end = readme.indexOf('\n## ', start + 1);
  const text = readme.slice(start, end < 0 ? undefined : end).replace(/\s+/g, ' ');
  const body = text.slice(text.indexOf('Reported test accuracy:') + 'Reported test accuracy:'.length);
  // "<model> [about] 93.66%" clauses, separated by commas, semicolons or a sentence's colon.
  return body
    .split('%')
    .slice(0, -1)
    .map((clause) => clause.match(/([^:;]*?)\s+(?:about\s+)?(\d{1,2}(?:\.\d+)?)$/))
    .filter((m): m is RegExpMatchArray => m !== null)
    .map((m) => ({ model: m[1].replace(/^[\s,.]+/, '').trim(), accuracy: Number(m[2]) / 100 }));
}

