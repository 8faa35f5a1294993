import { type Logger, pino } from 'pino';
import { redactText } from './redact.ts';

/**
 * The one structured logger. JSON lines on stderr, so that a command's stdout
 * stays clean for its output (tables, --json). Level from LOG_LEVEL.
 * Secrets are redacted wherever they appear in a log context, and URL
 * credentials wherever they appear in a line.
 */
const REDACTED_KEYS = [
  'secretAccessKey',
  'accessKeyId',
  'sessionToken',
  'password',
  'token',
  'authorization',
  'credentials',
];

function levelFromEnv(): string {
  const level = process.env.LOG_LEVEL?.toLowerCase();
  const valid = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
  return level && valid.includes(level) ? level : 'info';
}

export const log: Logger = pino(
  {
    name: 'netmon',
    level: levelFromEnv(),
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: {
      paths: [...REDACTED_KEYS, ...REDACTED_KEYS.map((key) => `*.${key}`)],
      censor: '[redacted]',
    },
    // The last look at every line: an error or field quoting a URL with user:pass anywhere in it.
    hooks: { streamWrite: (line) => redactText(line) },
  },
  pino.destination({ fd: 2, sync: true }),
);

export type { Logger };
