/**
 * Structured logs (pino) on stderr, so stdout stays free for the CLI's tables and its
 * `--json` line, or in a file for workers that run beside the CLI. On a terminal they are
 * pretty-printed one line each (pino-pretty); piped, in a file, or with
 * STORELOOP_LOG_FORMAT=json they stay JSON for log shippers. Secret-bearing fields are
 * redacted wherever they appear.
 */
import pino, { type DestinationStream, type Logger } from 'pino';
import pretty from 'pino-pretty';

function stderrDestination(): DestinationStream {
  if (process.stderr.isTTY && process.env.STORELOOP_LOG_FORMAT !== 'json') {
    return pretty({ destination: 2, sync: true, colorize: true, translateTime: 'SYS:HH:MM:ss', ignore: 'pid,hostname' });
  }
  return pino.destination(2);
}

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
    file ? pino.destination({ dest: file, mkdir: true, sync: false }) : stderrDestination(),
  );
}

export type { Logger };
