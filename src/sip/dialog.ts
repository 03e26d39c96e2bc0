/**
 * Dialog state (RFC 3261 §12): identifiers, CSeq spaces, remote target and route set, and
 * building in-dialog requests with loose or strict routing (§12.2.1.1, §16.12.1.2).
 */
import { isIP } from 'node:net';
import { SipRequest, type SipResponse } from './message.js';
import type { NameAddr, SipUri, TransportAddress } from './types.js';
import { parseNameAddr, parseUri, serializeNameAddr, serializeUri, withoutTag } from './uri.js';

/**
 * A confirmed dialog as plain JSON: what another node needs to continue it (call takeover)
 * with the same identifiers, CSeq spaces, route set and targets.
 */
export interface DialogState {
  callId: string;
  localTag: string;
  remoteTag: string;
  local: string;
  remote: string;
  remoteTarget: string;
  routeSet: string[];
  localSeq: number;
  remoteSeq: number | undefined;
  peer: TransportAddress;
}

export class Dialog {
  /** Next CSeq we send (§12.2.1.1). */
  localSeq: number;
  /** Highest CSeq received; lower ones are out of order (§12.2.2). */
  remoteSeq: number | undefined;
  remoteTarget: SipUri;

  constructor(
    readonly callId: string,
    readonly localTag: string,
    readonly remoteTag: string,
    /** Our From/To URI with display name, without tag. */
    readonly local: NameAddr,
    readonly remote: NameAddr,
    remoteTarget: SipUri,
    /** Route set in the order requests carry it. */
    readonly routeSet: readonly NameAddr[],
    localSeq: number,
    remoteSeq: number | undefined,
    /** Where the dialog's peer was last reached, used when a target is not an IP literal. */
    readonly peer: TransportAddress,
  ) {
    this.remoteTarget = remoteTarget;
    this.localSeq = localSeq;
    this.remoteSeq = remoteSeq;
  }

  /** Throws SipParseError on a state whose URIs do not parse. */
  static fromState(state: DialogState): Dialog {
    return new Dialog(
      state.callId,
      state.localTag,
      state.remoteTag,
      parseNameAddr(state.local),
      parseNameAddr(state.remote),
      parseUri(state.remoteTarget),
      state.routeSet.map(parseNameAddr),
      state.localSeq,
      state.remoteSeq,
      state.peer,
    );
  }

  state(): DialogState {
    return {
      callId: this.callId,
      localTag: this.localTag,
      remoteTag: this.remoteTag,
      local: serializeNameAddr(this.local),
      remote: serializeNameAddr(this.remote),
      remoteTarget: serializeUri(this.remoteTarget),
      routeSet: this.routeSet.map(serializeNameAddr),
      localSeq: this.localSeq,
      remoteSeq: this.remoteSeq,
      peer: this.peer,
    };
  }

  get key(): string {
    return dialogKey(this.callId, this.localTag, this.remoteTag);
  }

  /** UAS side, from the INVITE and our tag (§12.1.1). */
  static forUas(invite: SipRequest, localTag: string, source: TransportAddress): Dialog {
    const target = invite.contacts()[0]?.uri ?? invite.from().uri;
    return new Dialog(
      invite.callId(),
      localTag,
      invite.fromTag() ?? '',
      withoutTag(invite.to()),
      withoutTag(invite.from()),
      target,
      invite.routes('Record-Route'),
      1,
      invite.cseq().seq,
      source,
    );
  }

  /** UAC side, from our INVITE and a response with a To tag (§12.1.2). */
  static forUac(invite: SipRequest, response: SipResponse, destination: TransportAddress): Dialog {
    const target = response.contacts()[0]?.uri ?? invite.requestUri();
    return new Dialog(
      invite.callId(),
      invite.fromTag() ?? '',
      response.toTag() ?? '',
      withoutTag(invite.from()),
      withoutTag(invite.to()),
      target,
      [...response.routes('Record-Route')].reverse(),
      invite.cseq().seq + 1,
      undefined,
      destination,
    );
  }

  /** A request in this dialog with the next CSeq (ACK and CANCEL reuse the INVITE's, §13.2.2.4). */
  createRequest(method: string, cseq = this.localSeq++): SipRequest {
    const [first, ...rest] = this.routeSet;
    const strict = first !== undefined && !first.uri.params.has('lr');
    // §12.2.1.1: a strict first route becomes the Request-URI and the target goes last.
    const requestUri = strict ? { ...first.uri, params: new Map(first.uri.params) } : this.remoteTarget;
    const routes = strict ? [...rest, { uri: this.remoteTarget, params: new Map() }] : this.routeSet;
    const request = new SipRequest(method, serializeUri(requestUri));
    request.append('Max-Forwards', '70');
    request.append('From', `${serializeNameAddr(this.local)};tag=${this.localTag}`);
    request.append('To', `${serializeNameAddr(this.remote)};tag=${this.remoteTag}`);
    request.append('Call-ID', this.callId);
    request.append('CSeq', `${cseq} ${method}`);
    for (const route of routes) request.append('Route', serializeNameAddr(route));
    return request;
  }

  /** §12.2.2: out-of-order requests get 500; the remote CSeq only moves forward. */
  acceptRemoteSeq(request: SipRequest): boolean {
    if (request.method === 'ACK' || request.method === 'CANCEL') return true;
    const seq = request.cseq().seq;
    if (this.remoteSeq !== undefined && seq <= this.remoteSeq) return false;
    this.remoteSeq = seq;
    return true;
  }

  /** Target refresh from a re-INVITE or UPDATE Contact (§12.2.2, RFC 3311 §5.2). */
  refreshTarget(message: SipRequest | SipResponse): void {
    const contact = message.contacts()[0];
    if (contact) this.remoteTarget = contact.uri;
  }

  /**
   * A SIPS dialog (RFC 3261 §12.1.1, §12.1.2): the peer's target is a SIPS URI, which it must
   * be when the dialog was set up with one (§8.1.1.8). Our Contact in it is SIPS too.
   */
  get secure(): boolean {
    return this.remoteTarget.scheme === 'sips';
  }

  /**
   * Next hop: the first route (loose routing) or the remote target. patchbay does no DNS
   * (RFC 3263); a host name falls back to the address the peer used.
   */
  destination(): TransportAddress {
    const hop = this.routeSet[0]?.uri ?? this.remoteTarget;
    return uriDestination(hop, this.peer);
  }
}

export function dialogKey(callId: string, localTag: string, remoteTag: string): string {
  return `${callId}|${localTag}|${remoteTag}`;
}

/** An IP-literal SIP URI as a transport address, else `fallback` (no RFC 3263 resolution). */
function uriDestination(uri: SipUri, fallback: TransportAddress): TransportAddress {
  const host = uri.host.replace(/^\[|\]$/g, '');
  if (isIP(host) === 0) return fallback;
  const transport = uriTransport(uri) ?? fallback.transport;
  return { transport, address: host, port: uri.port ?? (transport === 'tls' ? 5061 : 5060) };
}

/** A `sips:` URI means TLS (RFC 5630 §3.1); else its transport parameter, when we speak it. */
function uriTransport(uri: SipUri): TransportAddress['transport'] | undefined {
  if (uri.scheme === 'sips') return 'tls';
  const param = uri.params.get('transport')?.toLowerCase();
  return param === 'udp' || param === 'tcp' || param === 'tls' ? param : undefined;
}
