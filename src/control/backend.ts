/**
 * What the control API needs from the gateway. The gateway implements it; the API only
 * validates, authenticates and translates HTTP, so it can be tested against a fake backend.
 */

export interface StreamTargetRequest {
  url: string;
  dialect?: 'twilio' | 'stereo' | 'exotel';
  sampleRate?: 8000 | 16000 | 24000;
  customParameters?: Record<string, string>;
}

/** Caller-ID headers for one call, over the trunk's own (validated by the gateway). */
export interface CallerIdRequest {
  assertedIdentity?: string;
  privacy?: string[];
  diversion?: { identity: string; reason?: string };
}

export interface OriginateRequest {
  to: string;
  from: string;
  trunk?: string;
  stream: StreamTargetRequest;
  callerId?: CallerIdRequest;
  /** X- headers and User-to-User for the INVITE (names and values checked by the API schema). */
  headers?: Record<string, string>;
  statusCallback?: string;
  timeoutSeconds?: number;
}

export type CallState = 'initiated' | 'ringing' | 'answered' | 'completed';

export interface CallSummary {
  id: string;
  direction: 'inbound' | 'outbound';
  state: CallState;
  from: string;
  to: string;
  trunk?: string;
  startedAt: string;
  answeredAt?: string;
  endedAt?: string;
  /** The cluster node that owns the call (clustered gateways only). */
  node?: string;
}

export interface CallList {
  calls: CallSummary[];
  /** False when a clustered node could list only some calls (its cluster Redis unreachable). */
  complete?: boolean;
}

/**
 * Names the node that forwarded an operation on a call to the call's owner, so the owner never
 * forwards it again.
 */
export const FORWARDED_HEADER = 'x-patchbay-forwarded-by';

/** How the request reached this node. */
export interface RequestOrigin {
  /** Forwarded by another node: answer for local calls only. */
  forwarded: boolean;
}

/** A summary plus live media statistics (RTP, jitter buffer, stream), as the gateway types them. */
export interface CallDetail<Media extends object = object> extends CallSummary {
  media: Media;
}

/** A registration-based trunk's binding at its registrar (RFC 3261 §10). */
export interface TrunkRegistration {
  trunk: string;
  /** host[:port] as configured. */
  registrar: string;
  /** The address-of-record registered. */
  aor: string;
  state: 'unregistered' | 'registering' | 'registered' | 'failed';
  /** Attempts failed in a row. */
  failures: number;
  /** registered: the interval granted and when it lapses. */
  expiresSec?: number;
  expiresAt?: string;
  /** failed: why (a fixed list), the registrar's answer, and when the next attempt goes. */
  cause?: string;
  detail?: string;
  retryAt?: string;
  /** Behind a NAT (UDP): our address:port as the registrar saw it, where our Contact now is. */
  publicAddress?: string;
}

export interface CpsLimit {
  key: string;
  rate: number;
  burst: number;
}

export interface DrainStatus {
  draining: boolean;
  activeCalls: number;
}

/**
 * Outcome of an operation on one call: done, no such call, refused with a reason, or (in a
 * cluster) the owning node or the call registry could not be reached.
 */
export type CallOperationResult = { ok: true } | CallOperationFailure;
export type CallOperationFailure = { ok: false; status: 404 | 409 | 502 | 503 | 504; error: string };

/** One call's detail, from this node or (in a cluster) from the node that owns it. */
export type CallLookupResult = { ok: true; call: CallDetail } | CallOperationFailure;

export interface ControlBackend {
  originate(request: OriginateRequest): Promise<CallSummary>;
  /** In a cluster: every node's calls, each naming its node. */
  listCalls(): Promise<CallList>;
  /** A call this node does not know is looked up on its owner, as for hangup. */
  getCall(id: string, origin: RequestOrigin): Promise<CallLookupResult>;
  /** In a cluster, a call owned by another node is forwarded there (unless already forwarded). */
  hangup(id: string, origin: RequestOrigin): Promise<CallOperationResult>;
  sendDtmf(
    id: string,
    digits: string,
    durationMs: number,
    origin: RequestOrigin,
  ): Promise<CallOperationResult>;
  /** Per-trunk, per-gateway health with every score input (trunks' snapshot objects). */
  trunkHealth(): unknown[];
  /** Registration-based trunks and their state. */
  trunkRegistrations(): TrunkRegistration[];
  cpsLimits(): CpsLimit[];
  /** Changes a limit at run time; false when the key names no configured bucket. */
  setCpsLimit(limit: CpsLimit): boolean;
  drain(): DrainStatus;
  /** Ready to take calls: transports bound, config loaded, not draining. */
  isReady(): boolean;
}
