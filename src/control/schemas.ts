/** JSON Schemas for the control API bodies and params; fastify validates with them and
 * @fastify/swagger publishes them in the OpenAPI document. */

/** Room for a token in a URL's query (a JWT, a signed URL) without taking any length at all. */
const MAX_URL_LENGTH = 4096;

const phoneNumber = {
  type: 'string',
  minLength: 1,
  maxLength: 64,
  pattern: '^[+0-9A-Za-z*#._@:-]+$',
} as const;

export const originateBody = {
  type: 'object',
  additionalProperties: false,
  required: ['to', 'from', 'stream'],
  properties: {
    to: phoneNumber,
    from: phoneNumber,
    trunk: { type: 'string', minLength: 1, maxLength: 128 },
    // No user info: fetch refuses such a URL, and its error would carry the password to the log.
    statusCallback: {
      type: 'string',
      format: 'uri',
      maxLength: MAX_URL_LENGTH,
      pattern: '^https?://[^/?#@]+(?:[/?#]|$)',
    },
    timeoutSeconds: { type: 'integer', minimum: 1, maximum: 300 },
    // Shape and size only; the gateway checks the values against the trunk config's rules.
    callerId: {
      type: 'object',
      additionalProperties: false,
      properties: {
        assertedIdentity: { type: 'string', maxLength: 256 },
        privacy: { type: 'array', maxItems: 6, items: { type: 'string', maxLength: 16 } },
        diversion: {
          type: 'object',
          additionalProperties: false,
          required: ['identity'],
          properties: {
            identity: { type: 'string', maxLength: 256 },
            reason: { type: 'string', maxLength: 32 },
          },
        },
      },
    },
    // Context for the carrier or the far PBX: only X- headers and User-to-User (RFC 7433), so
    // no request can set a header the gateway's own SIP depends on.
    headers: {
      type: 'object',
      maxProperties: 16,
      propertyNames: {
        pattern: "^(?:[Xx]-[A-Za-z0-9.!%*_+\\x60'~-]{1,62}|[Uu][Ss][Ee][Rr]-[Tt][Oo]-[Uu][Ss][Ee][Rr])$",
      },
      additionalProperties: { type: 'string', minLength: 1, maxLength: 512, pattern: '^[\\x20-\\x7e]+$' },
    },
    stream: {
      type: 'object',
      additionalProperties: false,
      required: ['url'],
      properties: {
        url: { type: 'string', maxLength: MAX_URL_LENGTH, pattern: '^(wss?://|builtin:)' },
        dialect: { type: 'string', enum: ['twilio', 'stereo', 'exotel'] },
        sampleRate: { type: 'integer', enum: [8000, 16000, 24000] },
        customParameters: {
          type: 'object',
          maxProperties: 32,
          propertyNames: { maxLength: 256 },
          additionalProperties: { type: 'string', maxLength: 1024 },
        },
      },
    },
  },
} as const;

export const callIdParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', minLength: 1, maxLength: 128 } },
} as const;

export const dtmfBody = {
  type: 'object',
  additionalProperties: false,
  required: ['digits'],
  properties: {
    // RFC 4733 §3.2 events 0-15: digits, *, #, A-D.
    digits: { type: 'string', minLength: 1, maxLength: 64, pattern: '^[0-9*#A-Da-d]+$' },
    durationMs: { type: 'integer', minimum: 40, maximum: 2000, default: 160 },
  },
} as const;

export const cpsParams = {
  type: 'object',
  required: ['key'],
  properties: { key: { type: 'string', minLength: 1, maxLength: 256 } },
} as const;

/** The longest path parameter any route's schema takes (the router is sized by it). */
export const MAX_PATH_PARAM_LENGTH = Math.max(
  callIdParams.properties.id.maxLength,
  cpsParams.properties.key.maxLength,
);

export const cpsBody = {
  type: 'object',
  additionalProperties: false,
  required: ['rate', 'burst'],
  properties: {
    rate: { type: 'number', exclusiveMinimum: 0, maximum: 100000 },
    burst: { type: 'integer', minimum: 1, maximum: 100000 },
  },
} as const;

export const errorResponse = {
  type: 'object',
  properties: { error: { type: 'string' }, message: { type: 'string' } },
} as const;
