/**
 * An allowed source flooding INVITEs (with SDP) far beyond its per-source limit, behaving
 * like a compliant but overeager UAC: every final response is ACKed (RFC 3261 §17.1.1.3 for
 * non-2xx, §13.2.2.4 for 2xx), and an answered call is hung up at once with BYE. What it
 * counts shows whether the gateway answered once per admitted INVITE (no Timer G storm).
 */
import { paced, udpSource } from './pace.js';
import type { SipTarget } from './sip-fuzz.js';

export interface InviteFloodOptions {
  target: SipTarget;
  source: string;
  /** The called number (the gateway routes it to a bot that only listens). */
  number: string;
  ratePerSec: number;
  durationMs: number;
  stopped?: () => boolean;
}

export interface InviteFloodReport {
  invites: number;
  /** Final responses by status, retransmissions included. */
  finals: Record<string, number>;
  /** INVITEs that got at least one final response. */
  answeredInvites: number;
  calls: number;
}

const CRLF = '\r\n';

export async function runInviteFlood(options: InviteFloodOptions): Promise<InviteFloodReport> {
  const { target, source, number } = options;
  const socket = await udpSource(source);
  const local = socket.address().port;
  const host = `${target.host}:${target.port}`;
  const report: InviteFloodReport = { invites: 0, finals: {}, answeredInvites: 0, calls: 0 };
  const finalSeen = new Set<string>();
  const hungUp = new Set<string>();
  const send = (text: string): void => {
    socket.send(Buffer.from(text, 'latin1'), target.port, target.host);
  };
  const request = (method: string, id: string, branch: string, cseq: number, toTag = '', body = ''): string =>
    [
      `${method} sip:${number}@${host} SIP/2.0`,
      `Via: SIP/2.0/UDP ${source}:${local};branch=z9hG4bK-${branch};rport`,
      'Max-Forwards: 70',
      `From: <sip:flood@${source}>;tag=${id}`,
      `To: <sip:${number}@${host}>${toTag}`,
      `Call-ID: ${id}`,
      `CSeq: ${cseq} ${method}`,
      `Contact: <sip:flood@${source}:${local}>`,
      ...(body ? ['Content-Type: application/sdp'] : []),
      `Content-Length: ${body.length}`,
      '',
      body,
    ].join(CRLF);
  const offer = [
    'v=0',
    `o=- 1 1 IN IP4 ${source}`,
    's=-',
    `c=IN IP4 ${source}`,
    't=0 0',
    'm=audio 9 RTP/AVP 0',
    '',
  ].join(CRLF);

  socket.removeAllListeners('message');
  socket.on('message', (data) => {
    const text = data.toString('latin1');
    const status = Number(/^SIP\/2\.0 (\d{3})/.exec(text)?.[1]);
    const cseq = /^CSeq:\s*(\d+) INVITE/im.exec(text);
    if (!(status >= 200) || !cseq) return;
    const id = /^Call-ID:\s*(\S+)/im.exec(text)?.[1] ?? '';
    const toTag = /^To:.*(;tag=[^\s;]+)/im.exec(text)?.[1] ?? '';
    report.finals[status] = (report.finals[status] ?? 0) + 1;
    if (!finalSeen.has(id)) report.answeredInvites++;
    finalSeen.add(id);
    if (status >= 300) {
      // §17.1.1.3: the ACK of a non-2xx final reuses the INVITE's branch.
      const branch = /branch=z9hG4bK-([^\s;]+)/.exec(text)?.[1] ?? id;
      send(request('ACK', id, branch, Number(cseq[1]), toTag));
      return;
    }
    send(request('ACK', id, `${id}-ack`, Number(cseq[1]), toTag));
    if (hungUp.has(id)) return;
    hungUp.add(id);
    report.calls++;
    send(request('BYE', id, `${id}-bye`, Number(cseq[1]) + 1, toTag));
  });

  report.invites = await paced(
    options.ratePerSec,
    options.durationMs,
    (index) => {
      const id = `flood-${index}-${local}`;
      send(request('INVITE', id, id, 1, '', offer));
    },
    options.stopped,
  );
  // Finals of the last INVITEs (and 2xx retransmissions) still get their ACKs for a moment.
  await new Promise((resolve) => setTimeout(resolve, 1000));
  socket.close();
  return report;
}
