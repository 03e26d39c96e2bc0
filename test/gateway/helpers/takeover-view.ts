/** An answered call's TakeoverView for snapshot and takeover tests (a UAS dialog, plain RTP). */
import type { StreamTarget } from '../../../src/config/index.js';
import type { CallController } from '../../../src/gateway/call-controller.js';
import type { TakeoverView } from '../../../src/gateway/ports.js';
import { Dialog, parseMessage, type Session, type SipRequest } from '../../../src/sip/index.js';

const INVITE = parseMessage(
  Buffer.from(
    [
      'INVITE sip:1000@127.0.0.2:5060 SIP/2.0',
      'Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1',
      'Record-Route: <sip:127.0.0.1:5060;lr>',
      'From: <sip:caller@127.0.0.1>;tag=abc',
      'To: <sip:1000@127.0.0.1>',
      'Call-ID: call-1@127.0.0.1',
      'CSeq: 7 INVITE',
      'Contact: <sip:caller@127.0.0.1:5070>',
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n'),
  ),
) as SipRequest;
export const SDP =
  'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n';
export const TARGET: StreamTarget = {
  url: 'wss://bot.example/stream',
  dialect: 'twilio',
  sampleRate: 8000,
  customParameters: { tenant: 't1' },
  auth: { type: 'bearer', token: 'secret-token' },
  reconnect: { maxAttempts: 0, backoffMs: 500 },
  connectTimeoutMs: 5000,
  vad: false,
};

export function view(remoteSdp = SDP, localSdp = SDP, target = TARGET): TakeoverView {
  const dialog = Dialog.forUas(INVITE, 'ourtag', { transport: 'udp', address: '127.0.0.1', port: 5060 });
  const session = { dialog, lastLocalSdp: localSdp, remoteSdp, callId: dialog.callId } as unknown as Session;
  return {
    call: { id: 'sid-1', direction: 'inbound', from: 'caller', to: '1000' },
    progress: {
      trunk: 'proxy',
      route: '*',
      target,
      codec: 'PCMU',
      callerIdentity: { sipFrom: '<sip:caller@127.0.0.1>' },
      answeredAtWall: 2000,
      setupMs: 100,
      endedAtWall: undefined,
      takeover: undefined,
    },
    startedAtWall: 1000,
    session,
    leg: { position: () => ({ ssrc: 0xdeadbeef, sequenceNumber: 65_530, timestamp: 0xffff_ff00 }) },
  };
}

/** A live call on `view()` whose dialog is `sipCallId`; its session notes being let go. */
export function liveCall(sipCallId: string, terminated: string[]): CallController {
  const shown = view();
  const session = Object.assign(shown.session, {
    callId: sipCallId,
    terminate: () => terminated.push(sipCallId),
  });
  return { id: sipCallId, takeoverView: () => ({ ...shown, session }) } as unknown as CallController;
}
