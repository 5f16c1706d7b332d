/**
 * Structured logs (pino) on stderr, so stdout stays free for the CLI's tables and its
 * `--json` line, or in a file for workers that run beside the CLI. Secret-bearing fields
 * are redacted wherever they appear.
 */
import pino, { type Logger } from 'pino';

export function createLogger(name: string, level = process.env.STORELOOP_LOG_LEVEL ?? 'info', file?: string): Logger {
  return pino(
    {
      name,
      level,
      redact: {
        paths: ['*.secretAccessKey', '*.accessKeyId', '*.apiKey', '*.password', '*.token', 'secretAccessKey', 'apiKey'],
        censor: '[redacted]',
      },
    },
    file ? pino.destination({ dest: file, mkdir: true, sync: false }) : pino.destination(2),
  );
}

export type { Logger };
