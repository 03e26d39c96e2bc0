/** The UDP sockets of an RTP session: how much each may buffer, and binding one. */
import { createSocket, type Socket } from 'node:dgram';

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

export function udpSocket(bindAddress: string, recvBufferSize: number): Socket {
  return createSocket({ type: bindAddress.includes(':') ? 'udp6' : 'udp4', recvBufferSize });
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
