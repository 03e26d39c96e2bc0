/**
 * The cluster's call registry as the control API uses it: every node's calls (each entry names
 * its node), the owner of one call, and the forwarding of an operation on a call to the node
 * that owns it. Entries are written when a call takes its lease, refreshed by its node's
 * heartbeat (so a listed state is at most `heartbeatMs` old) and removed with the lease.
 */
import { type CallSummary, FORWARDED_HEADER } from '../control/index.js';
import type { ClusterCallEntry } from './leases.js';
import type { RedisLink } from './redis-link.js';
import { keys, LIST_CALLS, LOOKUP_CALL } from './scripts.js';

/** `GET /v1/calls` lists at most this many calls of the whole cluster. */
const MAX_LISTED_CALLS = 1000;

interface CallOwner {
  node: string;
  apiUrl: string;
}

/** What the owning node answered, or why it could not be asked. */
type ForwardResult =
  | { ok: true; status: number; body: unknown }
  | { ok: false; status: 502 | 504; error: string };

export interface ClusterCallsOptions {
  link: RedisLink;
  nodeId: string;
  /** The control API's bearer token (every node's is the same); undefined when the API is open. */
  token: string | undefined;
  forwardTimeoutMs?: number;
}

export class ClusterCalls {
  readonly #options: ClusterCallsOptions;

  constructor(options: ClusterCallsOptions) {
    this.#options = options;
    options.link.defineScript('patchbayListCalls', LIST_CALLS);
    options.link.defineScript('patchbayLookupCall', LOOKUP_CALL);
  }

  /** Every node's calls (one round trip); rejects while Redis is unreachable. */
  async list(): Promise<ClusterCallEntry[]> {
    const reply = (await this.#options.link.run(
      'patchbayListCalls',
      [keys.allLeases, keys.calls],
      [MAX_LISTED_CALLS],
    )) as Array<string | null>;
    const entries: ClusterCallEntry[] = [];
    for (const text of reply) {
      const entry = text === null ? undefined : parseEntry(text);
      if (entry) entries.push(entry);
    }
    return entries;
  }

  /** The live node that owns `callId`, or undefined; rejects while Redis is unreachable. */
  async owner(callId: string): Promise<CallOwner | undefined> {
    const reply = (await this.#options.link.run(
      'patchbayLookupCall',
      [keys.allLeases, keys.calls, keys.nodes, keys.nodeInfo],
      [callId],
    )) as string[];
    const [entryText, infoText] = reply;
    if (entryText === undefined || infoText === undefined) return undefined;
    const entry = parseEntry(entryText);
    const apiUrl = parseApiUrl(infoText);
    return entry && apiUrl ? { node: entry.node, apiUrl } : undefined;
  }

  /** Sends `method path` to the owner's control API with the shared token. */
  async forward(
    owner: CallOwner,
    method: 'GET' | 'DELETE' | 'POST',
    path: string,
    body?: object,
  ): Promise<ForwardResult> {
    const headers = new Headers({ [FORWARDED_HEADER]: this.#options.nodeId });
    if (this.#options.token) headers.set('authorization', `Bearer ${this.#options.token}`);
    if (body) headers.set('content-type', 'application/json');
    const timeoutMs = this.#options.forwardTimeoutMs ?? 2000;
    try {
      const response = await fetch(new URL(path, owner.apiUrl), {
        method,
        headers,
        ...(body ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(timeoutMs),
      });
      const text = await response.text();
      return { ok: true, status: response.status, body: text.length > 0 ? safeJson(text) : undefined };
    } catch (error) {
      const timedOut = (error as Error).name === 'TimeoutError';
      return {
        ok: false,
        status: timedOut ? 504 : 502,
        error: timedOut ? `node ${owner.node} did not answer in time` : `node ${owner.node} unreachable`,
      };
    }
  }
}

/** A registry entry as written by some node; anything else (a foreign or corrupt value) is skipped. */
function parseEntry(text: string): ClusterCallEntry | undefined {
  const value = safeJson(text) as Partial<ClusterCallEntry> | undefined;
  if (typeof value?.node !== 'string' || typeof value.call !== 'object' || value.call === null)
    return undefined;
  const call = value.call as Partial<CallSummary>;
  if (typeof call.id !== 'string' || typeof call.state !== 'string') return undefined;
  return { node: value.node, call: value.call };
}

function parseApiUrl(text: string): string | undefined {
  const info = safeJson(text) as { apiUrl?: unknown } | undefined;
  return typeof info?.apiUrl === 'string' ? info.apiUrl : undefined;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
