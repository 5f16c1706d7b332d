import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { AesGcmPayloadCodec } from '../../infra/payload-encryption';

describe('payload encryption codec', () => {
  const codec = new AesGcmPayloadCodec(randomBytes(32));
  const payload = { metadata: { encoding: Buffer.from('json/plain') }, data: Buffer.from('{"dataset":"store","secret":"s3cr3t"}') };

  it('round-trips payloads and leaves no plaintext in what the server stores', async () => {
    const [encoded] = await codec.encode([payload]);
    assert.ok(!Buffer.from(encoded.data!).includes('s3cr3t'));
    assert.equal(Buffer.from(encoded.metadata!.encoding!).toString(), 'binary/encrypted');
    const [decoded] = await codec.decode([encoded]);
    assert.equal(Buffer.from(decoded.data!).toString(), Buffer.from(payload.data).toString());
  });

  it('rejects tampered ciphertext and a wrong key', async () => {
    const [encoded] = await codec.encode([payload]);
    const tampered = Buffer.from(encoded.data!);
    tampered[20] ^= 1;
    await assert.rejects(codec.decode([{ ...encoded, data: tampered }]));
    await assert.rejects(new AesGcmPayloadCodec(randomBytes(32)).decode([encoded]));
  });
});
