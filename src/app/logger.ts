import pino, { type Logger } from 'pino';

/**
 * JSON logs by default; human-readable when a person is watching a terminal (unless
 * RAGD_LOG_FORMAT=json). Secrets are redacted wherever they could appear.
 */
export function createLogger(level: string, opts: { pretty?: boolean } = {}): Logger {
  const pretty = opts.pretty ?? (process.stdout.isTTY && process.env.RAGD_LOG_FORMAT !== 'json');
  return pino({
    level,
    redact: {
      paths: ['req.headers.authorization', 'req.headers.cookie', 'headers.authorization', '*.apiKey', '*.api_key', 'apiKey'],
      censor: '[redacted]',
    },
    ...(pretty ? { transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } } } : {}),
  });
}
