/**
 * Optional encryption of everything storeloop puts in Temporal payloads (workflow inputs,
 * results, activity arguments, queries): AES-256-GCM in a Temporal PayloadCodec, so the
 * server and its history only ever hold ciphertext. Failures too: their message and stack
 * trace (which may quote a value) go into encoded attributes (infra/failure-converter.ts),
 * and the history shows only "Encoded failure". Turned on by STORELOOP_PAYLOAD_KEY (32 bytes,
 * base64), which every client and worker of the deployment must share.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { DataConverter, Payload, PayloadCodec } from '@temporalio/common';
import { temporal } from '@temporalio/proto';

const ENCODING = 'binary/encrypted';
const ALGORITHM = 'aes-256-gcm';

export class AesGcmPayloadCodec implements PayloadCodec {
  constructor(
    private readonly key: Buffer,
    private readonly keyId = 'storeloop-1',
  ) {
    if (key.length !== 32) throw new Error(`the payload key must be 32 bytes, got ${key.length}`);
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => {
      const iv = randomBytes(12);
      const cipher = createCipheriv(ALGORITHM, this.key, iv);
      const plain = temporal.api.common.v1.Payload.encode(payload).finish();
      const data = Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
      return { metadata: { encoding: Buffer.from(ENCODING), 'encryption-key-id': Buffer.from(this.keyId) }, data };
    });
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => {
      if (Buffer.from(payload.metadata?.encoding ?? []).toString() !== ENCODING) return payload;
      const data = Buffer.from(payload.data ?? []);
      const decipher = createDecipheriv(ALGORITHM, this.key, data.subarray(0, 12));
      decipher.setAuthTag(data.subarray(data.length - 16));
      const plain = Buffer.concat([decipher.update(data.subarray(12, data.length - 16)), decipher.final()]);
      return temporal.api.common.v1.Payload.decode(plain) as Payload;
    });
  }
}

/** The data converter for clients and workers: encrypting when a key is configured. */
export function dataConverterFromEnv(env: NodeJS.ProcessEnv = process.env): DataConverter | undefined {
  const key = env.STORELOOP_PAYLOAD_KEY;
  if (!key) return undefined;
  return { payloadCodecs: [new AesGcmPayloadCodec(Buffer.from(key, 'base64'))], failureConverterPath: require.resolve('./failure-converter') };
}
