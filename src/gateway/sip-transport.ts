/**
 * The SIP transport's settings from the gateway file's `sip` section, and its events counted
 * in metrics.
 */
import type { GatewayFileConfig } from '../config/index.js';
import type { GatewayMetrics } from '../control/index.js';
import type { SipTransport } from '../sip/index.js';
import type { Logger } from '../util/index.js';

/** Socket buffer, TCP connection limits and TLS handshake timeout, in the transport's units. */
export function transportLimits(sip: GatewayFileConfig['sip']) {
  return {
    udpReceiveBufferBytes: sip.udpReceiveBufferBytes,
    tcp: {
      idleTimeoutMs: sip.tcp.idleTimeoutSec * 1000,
      headerTimeoutMs: sip.tcp.headerTimeoutSec * 1000,
      maxConnectionsPerSource: sip.tcp.maxConnectionsPerSource,
      maxConnections: sip.tcp.maxConnections,
      keepaliveIntervalMs: sip.tcp.keepaliveIntervalSec * 1000,
    },
    handshakeTimeoutMs: sip.tls.handshakeTimeoutSec * 1000,
  };
}

/** Sheds, closed connections and failed TLS handshakes, as metrics (and log lines for ours). */
export function observeTransport(transport: SipTransport, metrics: GatewayMetrics, logger: Logger): void {
  transport.on('shed', (reason) => metrics.sipShedTotal.inc({ reason }));
  transport.on('tcpClosed', (reason, kind) => metrics.sipTcpClosedTotal.inc({ reason, transport: kind }));
  transport.on('tlsHandshakeFailed', (reason, direction, detail) => {
    metrics.sipTlsHandshakeFailuresTotal.inc({ reason, direction });
    // Outbound failures are ours to fix (a gateway's CA or name); inbound ones may be scanners.
    if (direction === 'outbound') logger.warn({ reason, detail }, 'sip tls handshake failed');
    else logger.debug({ reason, detail }, 'sip tls handshake failed');
  });
}
