/**
 * Requests crafted in an early dialog, as the side that sent the INVITE or the side that
 * answered it would send them.
 */
import type { SipMessage } from '../../../src/sip/message.js';
import { parseMessage } from '../../../src/sip/parser.js';
import type { TransportAddress } from '../../../src/sip/types.js';
import { ALICE, BOB } from './session-pair.js';

/**
 * A request in the dialog a provisional response `ringing` made, from the side that sent the
 * INVITE (`fromCaller`) or the side that answered it.
 */
export function earlyRequest(
  ringing: SipMessage,
  method: string,
  options: { cseq: number; fromCaller: boolean; body?: string; branch: string },
): SipMessage {
  const [from, to] = options.fromCaller
    ? [ringing.get('from'), ringing.get('to')]
    : [ringing.get('to'), ringing.get('from')];
  const [source, uri] = options.fromCaller
    ? [ALICE, 'sip:bob@127.0.0.1:5070']
    : [BOB, 'sip:alice@127.0.0.1:5060'];
  const body = options.body ?? '';
  const lines = [
    `${method} ${uri} SIP/2.0`,
    `Via: SIP/2.0/UDP ${source.address}:${source.port};branch=z9hG4bK-${options.branch}`,
    'Max-Forwards: 70',
    `From: ${from}`,
    `To: ${to}`,
    `Call-ID: ${ringing.callId()}`,
    `CSeq: ${options.cseq} ${method}`,
    `Contact: <sip:${options.fromCaller ? 'alice' : 'bob'}@${source.address}:${source.port}>`,
    ...(body ? ['Content-Type: application/sdp'] : []),
    `Content-Length: ${Buffer.byteLength(body)}`,
    '',
    body,
  ];
  return parseMessage(Buffer.from(lines.join('\r\n')));
}

export const fromTo = (fromCaller: boolean): [TransportAddress, TransportAddress] =>
  fromCaller ? [ALICE, BOB] : [BOB, ALICE];
