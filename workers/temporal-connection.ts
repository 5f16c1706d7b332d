/**
 * Connections to Temporal from configuration: the local dev server, a self-hosted
 * cluster (mTLS via TEMPORAL_TLS_CERT/KEY) or Temporal Cloud (TEMPORAL_API_KEY).
 */
import { readFileSync } from 'node:fs';
import { Client, Connection, type ConnectionOptions } from '@temporalio/client';
import { NativeConnection, type NativeConnectionOptions } from '@temporalio/worker';
import type { TemporalConfig } from '../infra/config';
import { dataConverterFromEnv } from '../infra/payload-encryption';

function tlsOptions(config: TemporalConfig): ConnectionOptions['tls'] {
  if (!config.tls) return undefined;
  if (config.tlsCertPath && config.tlsKeyPath) {
    return { clientCertPair: { crt: readFileSync(config.tlsCertPath), key: readFileSync(config.tlsKeyPath) } };
  }
  return true;
}

export async function connectClient(config: TemporalConfig): Promise<Client> {
  const connection = await Connection.connect({ address: config.address, tls: tlsOptions(config), apiKey: config.apiKey });
  return new Client({ connection, namespace: config.namespace, dataConverter: dataConverterFromEnv() });
}

export async function connectWorker(config: TemporalConfig): Promise<NativeConnection> {
  const options: NativeConnectionOptions = { address: config.address, tls: tlsOptions(config), apiKey: config.apiKey };
  return NativeConnection.connect(options);
}
