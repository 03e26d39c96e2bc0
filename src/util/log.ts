import { pino } from 'pino';

/**
 * The logger every module takes: pino's shape, so a pino child can be passed directly and
 * tests can pass `silentLogger`. Call-scoped loggers are children carrying `callId`.
 */
/** What a child logger stamps on each of its lines: the call, or the trunk's registration. */
export interface LogBindings {
  callId?: string;
  trunk?: string;
  registrar?: string;
  aor?: string;
  /** The first RTP port of a media worker's slice (`media.workers`): which thread logged. */
  mediaWorker?: number;
}

export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  child(bindings: LogBindings): Logger;
}

/** Secrets that must never reach a log line, wherever they appear in a logged object. */
const REDACTED_PATHS = [
  'password',
  '*.password',
  'secret',
  '*.secret',
  'token',
  '*.token',
  'bearerToken',
  '*.bearerToken',
  'authorization',
  '*.authorization',
  'headers.authorization',
  '*.headers.authorization',
];

export function createLogger(options: { level?: string; destination?: NodeJS.WritableStream } = {}): Logger {
  return pino(
    {
      level: options.level ?? 'info',
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      base: { service: 'patchbay' },
    },
    options.destination ?? process.stdout,
  );
}

const noop = (): void => {};

/** A logger that drops everything, for unit tests. */
export const silentLogger: Logger = {
  debug: noop,
  info: noop,
  warn: noop,
  error: noop,
  child: () => silentLogger,
};
