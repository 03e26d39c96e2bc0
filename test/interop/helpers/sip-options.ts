/** One out-of-dialog OPTIONS over UDP from loopback, for probing a gateway as a balancer would. */
import { createSocket } from 'node:dgram';

/** The whole answer (status line and headers) to one OPTIONS sent to `host:port`; rejects after 3 s. */
export async function optionsAnswer(port: number, host = '127.0.0.1'): Promise<string> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
  const local = socket.address().port;
  const message = [
    `OPTIONS sip:probe@${host}:${port} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:${local};branch=z9hG4bK-probe-${Date.now()}`,
    'Max-Forwards: 70',
    `From: <sip:probe@127.0.0.1:${local}>;tag=probe`,
    `To: <sip:probe@${host}:${port}>`,
    `Call-ID: probe-${Date.now()}@127.0.0.1`,
    'CSeq: 1 OPTIONS',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
  try {
    const reply = new Promise<string>((resolve, reject) => {
      socket.on('message', (data) => resolve(data.toString()));
      setTimeout(() => reject(new Error('no answer to OPTIONS')), 3000);
    });
    socket.send(message, port, host);
    return await reply;
  } finally {
    socket.close();
  }
}

/** Status code of the answer to one OPTIONS. */
export async function optionsStatus(port: number, host = '127.0.0.1'): Promise<number> {
  return Number(/^SIP\/2\.0 (\d{3})/.exec(await optionsAnswer(port, host))?.[1]);
}
