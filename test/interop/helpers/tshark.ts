/**
 * Live tshark capture on loopback for interop tests: the RTP (or RFC 4733) fields of every
 * packet sent to one UDP port, as the kernel saw them (so timing excludes our event loop), or
 * the fields of any packets a capture filter takes.
 */
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';

/** Output quiet this long means tshark has caught up with the traffic; never wait beyond the bound. */
const QUIET_MS = 500;
const MAX_CATCH_UP_MS = 10_000;

export interface Capture {
  /** Resolves once tshark is capturing. */
  ready: Promise<void>;
  /** Packets printed so far (for a probe that checks tshark really sees the port). */
  packets(): number;
  /**
   * Stops the capture (after a short grace period) and returns one field array per packet.
   * With `untilQuiet`, for traffic that has ended: first waits until tshark's output has been
   * quiet for 500 ms (at most 10 s), since a tshark starved of CPU on a loaded machine prints
   * seconds behind the wire and would lose what it has not printed yet.
   */
  stop(options?: { untilQuiet?: boolean }): Promise<string[][]>;
}

/**
 * `port` is one UDP port or an inclusive range; `options` are extra tshark arguments, e.g.
 * `-o rtpevent.event_payload_type_value:101`; with `fromHost`, only packets from that address.
 */
export function captureUdp(
  port: number | [number, number],
  fields: string[],
  options: string[] = [],
  fromHost?: string,
): Capture {
  const [low, high] = typeof port === 'number' ? [port, port] : port;
  const ports = low === high ? `udp dst port ${low}` : `udp dst portrange ${low}-${high}`;
  const filter = fromHost === undefined ? ports : `${ports} and src host ${fromHost}`;
  const decodeAs = low === high ? `${low}` : `${low}-${high}`;
  return capture(filter, ['-d', `udp.port==${decodeAs},rtp`, ...options], fields);
}

/**
 * Every packet on `lo` that the BPF `filter` takes. With `probeTcpPort` (a listener on
 * 127.0.0.1 inside the filter), `ready` waits until tshark has seen a probe connection to it,
 * so nothing after it is missed; the probe's packets carry no payload.
 */
export function captureLoopback(
  filter: string,
  fields: string[],
  options: string[] = [],
  probeTcpPort?: number,
): Capture {
  const started = capture(filter, options, fields);
  if (probeTcpPort === undefined) return started;
  const ready = started.ready.then(async () => {
    for (let attempt = 0; attempt < 50 && started.packets() === 0; attempt++) {
      const probe = connect(probeTcpPort, '127.0.0.1', () => probe.destroy());
      probe.on('error', () => undefined);
      await delay(100);
    }
  });
  return { ready, packets: started.packets, stop: started.stop };
}

function capture(filter: string, options: string[], fields: string[]): Capture {
  const args = ['-i', 'lo', '-f', filter, ...options, '-T', 'fields', '-l'];
  for (const field of fields) args.push('-e', field);
  const tshark = spawn('tshark', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  tshark.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  const ready = new Promise<void>((resolve) => {
    tshark.stderr.on('data', (chunk: Buffer) => {
      // tshark says "Capturing on" a moment before its filter sees packets.
      if (chunk.toString().includes('Capturing on')) setTimeout(resolve, 500);
    });
    setTimeout(resolve, 5000);
  });
  const exited = new Promise<void>((resolve) => tshark.on('exit', () => resolve()));
  let result: Promise<string[][]> | undefined;
  return {
    ready,
    packets: () => out.split('\n').length - 1,
    stop: (options = {}) => {
      result ??= (async () => {
        await delay(300);
        let seen = options.untilQuiet ? -1 : out.length;
        for (let waited = 0; out.length !== seen && waited < MAX_CATCH_UP_MS; waited += QUIET_MS) {
          seen = out.length;
          await delay(QUIET_MS);
        }
        tshark.kill('SIGINT');
        await exited;
        return out
          .split('\n')
          .filter((line) => line.trim().length > 0)
          .map((line) => line.split('\t'));
      })();
      return result;
    },
  };
}

/** "SIP/2.0" as tshark prints payload bytes. */
const SIP_VERSION_HEX = Buffer.from('SIP/2.0').toString('hex');
/** A TLS handshake record (RFC 8446 §5.1: type 22), as the ClientHello starts. */
const TLS_HANDSHAKE = '1603';
/** A TLS 1.2/1.3 record of application data (type 23, legacy version 3.3). */
const TLS_APPLICATION_DATA = '170303';

/** What TCP payloads (`tcp.payload` as tshark prints it) on a TLS port hold. */
export function readTlsPayloads(payloads: readonly string[]): {
  handshakes: number;
  applicationData: number;
  /** Segments with "SIP/2.0" in clear. */
  plaintextSip: number;
} {
  const hex = payloads.map((payload) => payload.replace(/:/g, ''));
  const count = (test: (payload: string) => boolean) => hex.filter(test).length;
  return {
    handshakes: count((payload) => payload.startsWith(TLS_HANDSHAKE)),
    applicationData: count((payload) => payload.startsWith(TLS_APPLICATION_DATA)),
    plaintextSip: count((payload) => payload.includes(SIP_VERSION_HEX)),
  };
}
