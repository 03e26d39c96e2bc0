/** The UDP sockets of an RTP session: how much each may buffer, how they address, and binding one. */
import { createSocket, type Socket } from 'node:dgram';
import { lookup as dnsLookup, type LookupOneOptions } from 'node:dns';
import { isIP } from 'node:net';

/**
 * SO_RCVBUF asked for the RTP socket. Linux doubles it for bookkeeping (caps the request at
 * net.core.rmem_max: raise that sysctl if it is lower) and charges each datagram its buffer
 * size, ~830 bytes for a 172-byte G.711 packet, 16 KiB for an 8 KB one. So the 512 KiB this
 * gives hold ~600 of the call's own packets (12 s of audio, against 5 s at the 208 KiB
 * default) or ~30 large junk datagrams: a stalled event loop or a burst at the port no
 * longer costs the call its audio. It is a limit, not an allocation: memory is used only
 * while datagrams wait, so hundreds of idle calls cost nothing, and the worst case (every
 * buffer full at once) is bounded by net.ipv4.udp_mem.
 */
export const RTP_RECEIVE_BUFFER_BYTES = 256 * 1024;
/** RTCP is one compound packet every few seconds: a quarter of the RTP socket's buffer is plenty. */
export const RTCP_RECEIVE_BUFFER_BYTES = 64 * 1024;

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string, family: number) => void;
/** dgram's `lookup` option (at run time it passes the socket's family, 4 or 6, as the options). */
export type DatagramLookup = (hostname: string, options: LookupOneOptions, callback: LookupCallback) => void;

/**
 * dgram resolves the destination of every send on an unconnected socket through its `lookup`,
 * by default dns.lookup, which answers even an IP literal a tick later (process.nextTick): a
 * closure, a queued tick and an IP parse per RTP packet. An RTP destination is an IP literal
 * (the SDP's c= address, or the source a packet came from), so it is answered here at once,
 * the last one without parsing it again; a host name still goes to dns.lookup.
 */
export function literalFirstLookup(): DatagramLookup {
  let known = '';
  let knownFamily = 0;
  return (hostname, options, callback) => {
    if (hostname !== known) {
      const family = isIP(hostname);
      if (family === 0) {
        dnsLookup(hostname, options, callback);
        return;
      }
      known = hostname;
      knownFamily = family;
    }
    callback(null, known, knownFamily);
  };
}

export function udpSocket(bindAddress: string, recvBufferSize: number): Socket {
  return createSocket({
    type: bindAddress.includes(':') ? 'udp6' : 'udp4',
    recvBufferSize,
    lookup: literalFirstLookup(),
  });
}

export function bindSocket(socket: Socket, port: number, address: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error) => reject(error);
    socket.once('error', onError);
    socket.bind(port, address, () => {
      socket.off('error', onError);
      resolve();
    });
  });
}
