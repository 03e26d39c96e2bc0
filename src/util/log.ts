import { pino } from 'pino';
import { shownUrlsIn } from './secret.js';

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

const CENSOR = '[redacted]';

/**
 * Field names whose values never reach a log line, compared lower-cased: SRTP and TLS key
 * material by its exact name (a bare `key` included: a CPS bucket's or a header's `key` is
 * logged under another name), anything ending in one of `SECRET_ENDINGS` (`proxy-authorization`,
 * `apiToken`, `set-cookie`; not `tokens`, a bucket's count).
 */
const SECRET_NAMES = new Set([
  'key',
  'privatekey',
  'apikey',
  'x-api-key',
  'sendkey',
  'receivekey',
  'cipherkey',
  'authkey',
  'masterkey',
  'mastersalt',
]);
const SECRET_ENDINGS = /(?:password|passwd|passphrase|secret|token|authorization|cookie)$/;

/** Names already judged: a program logs few distinct ones, and a lookup is cheaper than a test. */
const judgedNames = new Map<string, boolean>();
const MAX_JUDGED_NAMES = 4096;

function isSecretName(name: string): boolean {
  let secret = judgedNames.get(name);
  if (secret === undefined) {
    const lower = name.toLowerCase();
    secret = SECRET_NAMES.has(lower) || SECRET_ENDINGS.test(lower);
    if (judgedNames.size < MAX_JUDGED_NAMES) judgedNames.set(name, secret);
  }
  return secret;
}

/**
 * How deep below a logged field secrets are looked for; an object or array deeper still is
 * logged as `[Object]` or `[Array]`, since pino would print it in full (its depth limit applies
 * to circular objects only).
 */
const MAX_DEPTH = 8;

interface Jsonable {
  toJSON(): unknown;
}

/**
 * `value` as its log line may show it: every field with a secret's name censored, at any depth
 * down to MAX_DEPTH; what JSON.stringify shows of it otherwise unchanged (a `toJSON` result is
 * what is looked in, a cycle shows `[Circular]`). An object or array with nothing to censor is
 * returned itself, not copied.
 */
function censored(value: unknown, depth: number, ancestors: object[]): unknown {
  if (typeof value !== 'object' || value === null || ArrayBuffer.isView(value)) return value;
  if (typeof (value as Partial<Jsonable>).toJSON === 'function') {
    let json: unknown;
    try {
      json = (value as Jsonable).toJSON();
    } catch {
      return '[unserialisable]';
    }
    const shown = censoredJson(json, depth, ancestors);
    return shown === json ? value : shown;
  }
  return censoredJson(value, depth, ancestors);
}

function censoredJson(value: unknown, depth: number, ancestors: object[]): unknown {
  if (typeof value !== 'object' || value === null) return value;
  if (ancestors.includes(value)) return '[Circular]';
  if (depth >= MAX_DEPTH) return Array.isArray(value) ? '[Array]' : '[Object]';
  ancestors.push(value);
  let copy: object | undefined;
  if (Array.isArray(value)) {
    let items: unknown[] | undefined;
    for (let index = 0; index < value.length; index++) {
      const item: unknown = value[index];
      const shown = censored(item, depth + 1, ancestors);
      if (shown !== item) {
        items ??= value.slice();
        items[index] = shown;
      }
    }
    copy = items;
  } else {
    copy = censoredEach(value as Record<string, unknown>, (item) => censored(item, depth + 1, ancestors));
  }
  ancestors.pop();
  return copy ?? value;
}

/**
 * A logged object or child's bindings with its secrets censored (see `censored`); `skip` is
 * left to its serializer. A getter that throws leaves nothing of the fields to show: logging
 * never throws, and never shows what it could not look through.
 */
function censoredFields(fields: Record<string, unknown>, skip?: string): Record<string, unknown> {
  let copy: Record<string, unknown> | undefined;
  try {
    copy = censoredEach(fields, (item) => censored(item, 0, []), skip);
  } catch {
    return skip !== undefined && Object.hasOwn(fields, skip)
      ? { [skip]: fields[skip], fields: '[unserialisable]' }
      : { fields: '[unserialisable]' };
  }
  return copy ?? fields;
}

/**
 * `fields` with each field named as a secret censored and every other shown by `show`, copied
 * only if something changed (else undefined); `skip` is left as it is.
 */
function censoredEach(
  fields: Record<string, unknown>,
  show: (item: unknown) => unknown,
  skip?: string,
): Record<string, unknown> | undefined {
  let copy: Record<string, unknown> | undefined;
  for (const name in fields) {
    if (name === skip || !Object.hasOwn(fields, name)) continue;
    const item = fields[name];
    const shown = item !== undefined && isSecretName(name) ? CENSOR : show(item);
    if (shown !== item) {
      copy ??= { ...fields };
      copy[name] = shown;
    }
  }
  return copy;
}

/** A logged `err` as pino serialises it (type, message, stack, own fields), then censored. */
function censoredError(error: unknown): unknown {
  try {
    return censored(pino.stdSerializers.err(error as Error), 0, []);
  } catch {
    return '[unserialisable]';
  }
}

/**
 * Secrets never reach a log line, whatever a call site passes (`test/util/log.test.ts`):
 * - a field named as a secret (`isSecretName`) is censored at any depth of a logged object,
 *   a child's bindings or a logged error (censored after pino serialises it, so the error's
 *   type, message and stack stay);
 * - a URL anywhere in the line, message included, loses its user info, query and fragment
 *   (`shownUrlsIn`, run on the serialised line: one scan for `://` when there is none).
 */
export function createLogger(options: { level?: string; destination?: NodeJS.WritableStream } = {}): Logger {
  const root = pino(
    {
      level: options.level ?? 'info',
      base: { service: 'patchbay' },
      serializers: { err: censoredError },
      formatters: { log: (fields) => censoredFields(fields, 'err') },
      hooks: { streamWrite: shownUrlsIn },
    },
    options.destination ?? process.stdout,
  );
  // pino applies `formatters.bindings` to the root's bindings only; a child (and its own
  // children, which inherit this) has its bindings censored here, once, when it is made.
  const makeChild = root.child;
  root.child = function child(this: typeof root, bindings, childOptions) {
    return makeChild.call(this, censoredFields(bindings), childOptions);
  } as typeof root.child;
  return root;
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
