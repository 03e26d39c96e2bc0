import { createHash, timingSafeEqual } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import swagger from '@fastify/swagger';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from '../util/index.js';
import {
  type CallOperationResult,
  type ControlBackend,
  type CpsLimit,
  FORWARDED_HEADER,
  type OriginateRequest,
  type RequestOrigin,
} from './backend.js';
import type { GatewayMetrics } from './metrics.js';
import {
  callIdParams,
  cpsBody,
  cpsParams,
  dtmfBody,
  errorResponse,
  MAX_PATH_PARAM_LENGTH,
  originateBody,
} from './schemas.js';

export interface ControlServerOptions {
  backend: ControlBackend;
  metrics: GatewayMetrics;
  /** Bearer token required on /v1; undefined disables auth (only sensible on loopback). */
  token?: string;
  /** Require the token on /metrics too (default: open, for Prometheus scrapers). */
  protectMetrics?: boolean;
  logger?: Logger;
  limits: ControlServerLimits;
}

/** What one client may hold of the server (`api.*` in the gateway file, in ms). */
export interface ControlServerLimits {
  /** Connections open at once; more are closed at accept. */
  maxConnections: number;
  /** Until a request's headers are complete (slowloris). */
  headerTimeoutMs: number;
  /** Until a whole request, body included, is received. */
  requestTimeoutMs: number;
  /** A kept-alive connection's wait for its next request. */
  idleTimeoutMs: number;
}

/** Node checks the header and request timeouts on an interval (30 s by default): often enough to keep them. */
function timeoutCheckMs(limits: ControlServerLimits): number {
  return Math.min(1000, Math.ceil(limits.headerTimeoutMs / 4));
}

const UNAUTHENTICATED = new Set(['/healthz', '/readyz', '/openapi.json']);
const BEARER = /^bearer (.+)$/i;

/** Compares digests so neither length nor content leaks through timing. */
function tokenMatches(presented: string, expected: string): boolean {
  const a = createHash('sha256').update(presented).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

interface HandlerError {
  validation?: unknown;
  /** Fastify's own errors (413, 415, bad JSON...). */
  statusCode?: number;
  /** The backend's refusals (OriginateError: 400, 404, 503). */
  status?: number;
  message: string;
}

/** The status an error asks for when it is a refusal (4xx, or 5xx but 500); else undefined. */
function refusalStatus(error: HandlerError): number | undefined {
  const status = error.statusCode ?? error.status;
  if (status === undefined || !Number.isInteger(status) || status < 400 || status > 599) return undefined;
  return status === 500 ? undefined : status;
}

/** `not_found` for 404 and so on, from the status's reason phrase. */
function errorName(status: number): string {
  return (STATUS_CODES[status] ?? 'error').toLowerCase().replace(/[^a-z]+/g, '_');
}

function originOf(request: FastifyRequest): RequestOrigin {
  return { forwarded: request.headers[FORWARDED_HEADER] !== undefined };
}

function sendOperationResult(reply: FastifyReply, result: CallOperationResult): FastifyReply {
  if (result.ok) return reply.code(204).send();
  return reply.code(result.status).send({ error: result.error });
}

/** Builds the control API (not yet listening): the caller chooses address and port. */
export async function createControlServer(options: ControlServerOptions): Promise<FastifyInstance> {
  const { backend, metrics, token, limits } = options;
  const app = Fastify({
    logger: false,
    bodyLimit: 64 * 1024,
    // Fastify's defaults keep an idle connection 72 s and never time a request out.
    keepAliveTimeout: limits.idleTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    // A socket with no bytes moving either way for twice as long (a client that stopped reading
    // our answer) is destroyed rather than held with its buffered reply; twice, so a stalled
    // request still gets its 408 first.
    connectionTimeout: 2 * limits.requestTimeoutMs,
    http: {
      headersTimeout: limits.headerTimeoutMs,
      // Given here too so Node checks the pair as it creates the server.
      requestTimeout: limits.requestTimeoutMs,
      connectionsCheckingInterval: timeoutCheckMs(limits),
    },
    // The router counts a parameter as sent (percent-encoded), before the schema sees it
    // decoded: room for the longest the schemas take, every character encoded.
    routerOptions: { maxParamLength: 3 * MAX_PATH_PARAM_LENGTH },
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: true } },
  });
  // Node closes a connection beyond this at accept (its 'drop' event), before any byte is read.
  app.server.maxConnections = limits.maxConnections;
  app.server.on('drop', () => metrics.apiConnectionsRefusedTotal.inc());

  await app.register(swagger, {
    openapi: {
      // 3.1: its schemas are JSON Schema, as the validator's are (a numeric exclusiveMinimum,
      // propertyNames); 3.0's dialect reads or lacks those.
      openapi: '3.1.0',
      info: { title: 'patchbay control API', version: '1' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
  });

  app.addHook('onRequest', async (request, reply) => {
    const path = request.url.split('?')[0] ?? '';
    if (!token || UNAUTHENTICATED.has(path)) return;
    if (path === '/metrics' && !options.protectMetrics) return;
    // RFC 7235 §2.1: the scheme is case-insensitive; the token is compared as sent.
    const presented = BEARER.exec(request.headers.authorization ?? '')?.[1] ?? '';
    if (!presented || !tokenMatches(presented, token)) {
      await reply.code(401).header('www-authenticate', 'Bearer').send({ error: 'unauthorized' });
    }
  });

  app.setErrorHandler((error: HandlerError, _request, reply) => {
    if (error.validation) return reply.code(400).send({ error: 'bad_request', message: error.message });
    const status = refusalStatus(error);
    if (status === undefined) {
      options.logger?.error({ err: error }, 'control API handler failed');
      // The message stays in the log: an unexpected error's text is no answer for a client.
      return reply.code(500).send({ error: 'internal_error', message: 'internal error' });
    }
    return reply.code(status).send({ error: errorName(status), message: error.message });
  });

  app.get('/healthz', { schema: { hide: true } }, async () => ({ status: 'ok' }));
  app.get('/readyz', { schema: { hide: true } }, async (_request, reply) =>
    backend.isReady() ? { status: 'ready' } : reply.code(503).send({ status: 'not_ready' }),
  );
  app.get('/metrics', { schema: { hide: true } }, async (_request, reply) =>
    reply.header('content-type', metrics.registry.contentType).send(await metrics.registry.metrics()),
  );
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  app.post<{ Body: OriginateRequest }>(
    '/v1/calls',
    {
      schema: {
        body: originateBody,
        response: { 400: errorResponse, 404: errorResponse, 503: errorResponse },
      },
    },
    async (request, reply) => reply.code(201).send(await backend.originate(request.body)),
  );
  app.get('/v1/calls', async () => backend.listCalls());
  app.get<{ Params: { id: string } }>(
    '/v1/calls/:id',
    { schema: { params: callIdParams } },
    async (request, reply) => {
      const result = await backend.getCall(request.params.id, originOf(request));
      return result.ok ? result.call : reply.code(result.status).send({ error: result.error });
    },
  );
  app.delete<{ Params: { id: string } }>(
    '/v1/calls/:id',
    { schema: { params: callIdParams } },
    async (request, reply) =>
      sendOperationResult(reply, await backend.hangup(request.params.id, originOf(request))),
  );
  app.post<{ Params: { id: string }; Body: { digits: string; durationMs: number } }>(
    '/v1/calls/:id/dtmf',
    { schema: { params: callIdParams, body: dtmfBody } },
    async (request, reply) =>
      sendOperationResult(
        reply,
        await backend.sendDtmf(
          request.params.id,
          request.body.digits,
          request.body.durationMs,
          originOf(request),
        ),
      ),
  );

  app.get('/v1/trunks', async () => ({
    trunks: backend.trunkHealth(),
    registrations: backend.trunkRegistrations(),
  }));
  app.get('/v1/cps', async () => ({ limits: backend.cpsLimits() }));
  app.put<{ Params: { key: string }; Body: Omit<CpsLimit, 'key'> }>(
    '/v1/cps/:key',
    { schema: { params: cpsParams, body: cpsBody } },
    async (request, reply) => {
      const limit = { key: request.params.key, ...request.body };
      return backend.setCpsLimit(limit) ? limit : reply.code(404).send({ error: 'no such CPS bucket' });
    },
  );
  app.post('/v1/admin/drain', async (_request, reply) => reply.code(202).send(backend.drain()));

  return app;
}
