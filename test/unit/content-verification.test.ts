import assert from 'node:assert/strict';
import { contentHashOf, IntegrityError, VerifiedStream } from '../../activities/storage/object-store';
import { sha256Hex } from '../../schemas/artifacts';

async function* chunksOf(...parts: string[]): AsyncGenerator<Uint8Array> {
  for (const part of parts) yield Buffer.from(part);
}

describe('content verification on read', () => {
  const sha = sha256Hex('hello world');

  it('knows content-addressed keys by their file name, and only those', () => {
    assert.equal(contentHashOf(`artifacts/store/next-item/sequences/${sha}.arrow`), sha);
    assert.equal(contentHashOf(`${sha}.json`), sha);
    assert.equal(contentHashOf(`cache/preprocess/next-item/key-${sha}.json`), undefined, 'a cache entry is named by its key, not its content');
    assert.equal(contentHashOf(`models/store/${sha}/weights.bin`), undefined, 'the folder names the weights; model.json carries the hash');
    assert.equal(contentHashOf('raw/store/events/2026-11-01.csv'), undefined);
    assert.equal(contentHashOf(`x/${sha.slice(1)}.arrow`), undefined);
  });

  it('a stream passes its chunks through and verifies at the end, also what the reader left unread', async () => {
    const whole = new VerifiedStream('k', chunksOf('hello', ' ', 'world'), sha);
    const seen: string[] = [];
    for await (const chunk of whole.chunks()) {
      seen.push(Buffer.from(chunk).toString());
      if (seen.length === 2) break; // a reader that stops before the end (an Arrow footer)
    }
    assert.deepEqual(seen, ['hello', ' ']);
    await whole.verify();

    const corrupt = new VerifiedStream('datasets/x/part.arrow', chunksOf('hello', ' ', 'w0rld'), sha);
    for await (const chunk of corrupt.chunks()) assert.ok(chunk.length > 0);
    await assert.rejects(corrupt.verify(), (error: unknown) => {
      assert.ok(error instanceof IntegrityError);
      assert.equal(error.key, 'datasets/x/part.arrow');
      assert.equal(error.expectedSha256, sha);
      assert.equal(error.actualSha256, sha256Hex('hello w0rld'));
      return true;
    });
  });

  it('does not check a stream without an expected hash', async () => {
    await new VerifiedStream('raw/file.csv', chunksOf('anything'), undefined).verify();
  });
});
