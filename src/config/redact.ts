/** Copies of config values safe to show in the API and logs: secrets replaced by `***`. */
const SECRET_KEYS = new Set(['password', 'token', 'secret', 'bearerToken']);

export function redactSecrets<T>(value: T): T {
  if (Array.isArray(value)) return value.map(redactSecrets) as T;
  if (value instanceof Map) return new Map([...value].map(([k, v]) => [k, redactSecrets(v)])) as T;
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) {
      out[key] = SECRET_KEYS.has(key) && typeof item === 'string' ? '***' : redactSecrets(item);
    }
    return out as T;
  }
  return value;
}
