/** Reading the kernel's per-socket UDP drop counter from /proc/net/udp{,6} (Linux). */
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { existsSync } from 'node:fs';
import { describe, it } from 'node:test';
import { procAddress, readUdpDrops, udpDropsFromProc } from '../../../src/sip/transport/udp-drops.js';

const TABLE = [
  '   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops',
  '  656: 0100007F:13C4 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 17179 2 00000000b14ec87e 42',
  ' 1805: 0100007F:B018 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 18033 2 00000000ccf9a71d 7',
  ' 1806: 00000000:13C4 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 18034 2 00000000ccf9a71e 9',
].join('\n');

describe('UDP socket drops from /proc', () => {
  it('spells addresses as the kernel does (32-bit words in host order)', () => {
    assert.equal(procAddress('127.0.0.1'), '0100007F');
    assert.equal(procAddress('0.0.0.0'), '00000000');
    assert.equal(procAddress('::1'), '00000000000000000000000001000000');
    assert.equal(procAddress('::ffff:127.0.0.1'), '0000000000000000FFFF00000100007F');
    assert.equal(procAddress('not an address'), undefined);
  });

  it('reads the drops column of the row bound to the address and port', () => {
    assert.equal(udpDropsFromProc(TABLE, '127.0.0.1', 5060), 42);
    assert.equal(udpDropsFromProc(TABLE, '0.0.0.0', 5060), 9);
    assert.equal(udpDropsFromProc(TABLE, '127.0.0.1', 5061), undefined);
  });

  it('finds a live socket', { skip: !existsSync('/proc/net/udp') }, async () => {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    assert.equal(await readUdpDrops('127.0.0.1', socket.address().port), 0);
    socket.close();
  });
});
