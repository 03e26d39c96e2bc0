import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  type AnswerOptions,
  createOffer,
  createReoffer,
  type MediaDirection,
  negotiateAnswer,
  nextVersion,
  parseAnswer,
  sameDescription,
} from '../../src/sip/sdp.js';

const sdp = (...lines: string[]): string => `${lines.join('\r\n')}\r\n`;
const linesOf = (text: string): string[] => text.split('\r\n').filter((line) => line !== '');
const LOCAL: AnswerOptions = { address: '203.0.113.5', port: 20000, preferences: ['PCMU', 'PCMA'] };

function answerOf(offer: string, local: Partial<AnswerOptions> = {}) {
  const result = negotiateAnswer(offer, { ...LOCAL, ...local });
  if (!result.ok) assert.fail(`expected an answer, got ${result.status} ${result.reason}`);
  return result;
}

// SIPp uac_pcap scenario body, media ip/port filled in.
const SIPP_PCMA = sdp(
  'v=0',
  'o=user1 53655765 2353687637 IN IP4 127.0.0.1',
  's=-',
  'c=IN IP4 127.0.0.1',
  't=0 0',
  'm=audio 6000 RTP/AVP 8 101',
  'a=rtpmap:8 PCMA/8000',
  'a=rtpmap:101 telephone-event/8000',
  'a=fmtp:101 0-11,16',
);

// SIPp's plain uac: a static payload type and no rtpmap at all (RFC 3551 §6).
const SIPP_STATIC = sdp(
  'v=0',
  'o=user1 53655765 2353687637 IN IP4 127.0.0.1',
  's=-',
  'c=IN IP4 127.0.0.1',
  't=0 0',
  'm=audio 6000 RTP/AVP 0',
);

const BARESIP_OPUS = sdp(
  'v=0',
  'o=- 1457291340 3094271617 IN IP4 192.168.1.20',
  's=-',
  'c=IN IP4 192.168.1.20',
  't=0 0',
  'm=audio 10680 RTP/AVP 111 0 8 101',
  'b=AS:127',
  'a=rtpmap:111 opus/48000/2',
  'a=fmtp:111 stereo=1;sprop-stereo=1;useinbandfec=1;maxaveragebitrate=32000',
  'a=rtpmap:0 PCMU/8000',
  'a=rtpmap:8 PCMA/8000',
  'a=rtpmap:101 telephone-event/48000',
  'a=fmtp:101 0-15',
  'a=rtcp-mux',
  'a=sendrecv',
  'a=label:1',
  'a=ssrc:1431375404 cname:3b3a4d8b-5c3c-4d6e',
  'a=rtcp-rsize',
  'a=ptime:20',
);

const TWILIO = sdp(
  'v=0',
  'o=root 1851245436 1851245436 IN IP4 54.172.60.1',
  's=Twilio Media Gateway',
  'c=IN IP4 54.172.60.1',
  't=0 0',
  'm=audio 13430 RTP/AVP 0 8 101',
  'a=rtpmap:0 PCMU/8000',
  'a=rtpmap:8 PCMA/8000',
  'a=rtpmap:101 telephone-event/8000',
  'a=fmtp:101 0-16',
  'a=ptime:20',
  'a=maxptime:150',
  'a=sendrecv',
);

// Linphone-style: video first, audio on its own media-level c= and a=rtcp, opus on PT 96.
const VIDEO_AUDIO = sdp(
  'v=0',
  'o=alice 3812 1432 IN IP4 10.1.1.1',
  's=Talk',
  'c=IN IP4 10.1.1.1',
  't=0 0',
  'm=video 9078 RTP/AVP 96 97',
  'a=rtpmap:96 VP8/90000',
  'a=rtpmap:97 H264/90000',
  'a=fmtp:97 profile-level-id=42801F',
  'm=audio 7078 RTP/AVP 96 0 101',
  'c=IN IP4 10.1.1.2',
  'a=rtpmap:96 opus/48000/2',
  'a=fmtp:96 useinbandfec=1',
  'a=rtpmap:101 telephone-event/8000',
  'a=rtcp:7079 IN IP4 10.1.1.2',
  'a=ptime:40',
);

function holdOffer(address: string, direction?: MediaDirection): string {
  return sdp(
    'v=0',
    'o=asterisk 1000 1001 IN IP4 198.51.100.7',
    's=Asterisk',
    `c=IN IP4 ${address}`,
    't=0 0',
    'm=audio 18000 RTP/AVP 0 101',
    'a=rtpmap:0 PCMU/8000',
    'a=rtpmap:101 telephone-event/8000',
    'a=fmtp:101 0-16',
    ...(direction ? [`a=${direction}`] : []),
  );
}

describe('createOffer', () => {
  test('G.711 offer: static types in preference order, 8 kHz telephone-event, rtcp, o= id/version', () => {
    const offer = createOffer({
      address: '192.0.2.1',
      port: 30000,
      codecs: ['PCMA', 'PCMU'],
      sessionId: '123456789012345678',
      sessionVersion: 7,
    });
    const lines = linesOf(offer);
    assert.equal(lines[0], 'v=0');
    assert.ok(lines.includes('o=patchbay 123456789012345678 7 IN IP4 192.0.2.1'));
    assert.ok(lines.includes('c=IN IP4 192.0.2.1'));
    assert.ok(lines.includes('m=audio 30000 RTP/AVP 8 0 101'));
    for (const line of [
      'a=rtpmap:8 PCMA/8000',
      'a=rtpmap:0 PCMU/8000',
      'a=rtpmap:101 telephone-event/8000',
    ]) {
      assert.ok(lines.includes(line), line);
    }
    assert.ok(lines.includes('a=fmtp:101 0-16'));
    assert.ok(lines.includes('a=ptime:20'));
    assert.ok(lines.includes('a=sendrecv'));
    assert.ok(lines.includes('a=rtcp:30001'));
    assert.ok(!lines.includes('a=rtcp-mux'));
    assert.ok(!offer.includes('telephone-event/48000'));
  });

  test('opus offer: PT 111 opus/48000/2, fmtp with bitrate, 48 kHz events on 110, rtcp-mux, IPv6', () => {
    const offer = createOffer({
      address: '2001:db8::5',
      port: 40000,
      codecs: ['opus', 'PCMU', 'opus'],
      ptime: 40,
      direction: 'recvonly',
      rtcpMux: true,
      opus: { useInbandFec: true, maxAverageBitrate: 24000 },
    });
    const lines = linesOf(offer);
    assert.ok(lines.includes('c=IN IP6 2001:db8::5'));
    assert.match(offer, /^o=patchbay \d+ 1 IN IP6 2001:db8::5$/m);
    assert.ok(lines.includes('m=audio 40000 RTP/AVP 111 0 101 110'));
    assert.ok(lines.includes('a=rtpmap:111 opus/48000/2'));
    assert.ok(lines.includes('a=fmtp:111 minptime=10;useinbandfec=1;maxaveragebitrate=24000'));
    assert.ok(lines.includes('a=rtpmap:110 telephone-event/48000'));
    assert.ok(lines.includes('a=fmtp:110 0-16'));
    assert.ok(lines.includes('a=ptime:40'));
    assert.ok(lines.includes('a=recvonly'));
    assert.ok(lines.includes('a=rtcp-mux'));
  });

  test('rejects an empty codec list or a bad port (local programming errors)', () => {
    assert.throws(() => createOffer({ address: '192.0.2.1', port: 30000, codecs: [] }), RangeError);
    assert.throws(() => createOffer({ address: '192.0.2.1', port: 0, codecs: ['PCMU'] }), RangeError);
  });
});

describe('negotiateAnswer: real-world offers', () => {
  test('SIPp uac_pcap PCMA offer: PCMA chosen although PCMU is preferred, events echoed', () => {
    const { answer, remote, local } = answerOf(SIPP_PCMA);
    assert.deepEqual(remote, {
      address: '127.0.0.1',
      port: 6000,
      codec: { name: 'PCMA', payloadType: 8, clockRate: 8000, channels: 1, fmtp: new Map() },
      telephoneEvent: { payloadType: 101, clockRate: 8000 },
      ptime: 20,
      direction: 'sendrecv',
      rtcpMux: false,
    });
    assert.equal(local.port, 20000);
    assert.equal(local.rtcpPort, 20001);
    const lines = linesOf(answer);
    assert.ok(lines.includes('m=audio 20000 RTP/AVP 8 101'));
    assert.ok(lines.includes('c=IN IP4 203.0.113.5'));
    assert.ok(lines.includes('a=fmtp:101 0-11,16'));
    assert.ok(lines.includes('a=sendrecv'));
    assert.ok(lines.includes('a=rtcp:20001'));
  });

  test('SIPp static PT 0 with no rtpmap counts as PCMU', () => {
    const { answer, remote } = answerOf(SIPP_STATIC, { preferences: ['opus', 'PCMU'] });
    assert.equal(remote.codec.name, 'PCMU');
    assert.equal(remote.codec.payloadType, 0);
    assert.equal(remote.telephoneEvent, undefined);
    assert.ok(linesOf(answer).includes('m=audio 20000 RTP/AVP 0'));
  });

  test('baresip opus offer: opus on the offered PT, 48 kHz events, fmtp parsed, rtcp-mux accepted', () => {
    const { answer, remote, local } = answerOf(BARESIP_OPUS, { preferences: ['opus', 'PCMU'] });
    assert.equal(remote.codec.name, 'opus');
    assert.equal(remote.codec.payloadType, 111);
    assert.equal(remote.codec.channels, 2);
    assert.equal(remote.codec.fmtp.get('sprop-stereo'), '1');
    assert.deepEqual(remote.opus, { useInbandFec: true, maxAverageBitrate: 32000, stereo: true });
    assert.deepEqual(remote.telephoneEvent, { payloadType: 101, clockRate: 48000 });
    assert.equal(remote.rtcpMux, true);
    assert.equal(local.rtcpMux, true);
    assert.equal(local.rtcpPort, undefined);
    assert.deepEqual(local.opus, { useInbandFec: true, stereo: false });
    const lines = linesOf(answer);
    assert.ok(lines.includes('m=audio 20000 RTP/AVP 111 101'));
    assert.ok(lines.includes('a=rtpmap:111 opus/48000/2'));
    assert.ok(lines.includes('a=fmtp:111 minptime=10;useinbandfec=1'));
    assert.ok(lines.includes('a=rtpmap:101 telephone-event/48000'));
    assert.ok(lines.includes('a=rtcp-mux'));
    assert.ok(!lines.some((line) => line.startsWith('a=rtcp:')));
  });

  test('baresip offer answered with PCMU: no 8 kHz events offered, so none answered', () => {
    const { answer, remote } = answerOf(BARESIP_OPUS, { preferences: ['PCMU'] });
    assert.equal(remote.codec.name, 'PCMU');
    assert.equal(remote.telephoneEvent, undefined);
    assert.equal(remote.opus, undefined);
    assert.ok(linesOf(answer).includes('m=audio 20000 RTP/AVP 0'));
  });

  test('Twilio-style offer: our preference order wins over theirs', () => {
    const pcma = answerOf(TWILIO, { preferences: ['PCMA', 'PCMU'] });
    assert.equal(pcma.remote.codec.name, 'PCMA');
    assert.equal(pcma.remote.codec.payloadType, 8);
    assert.deepEqual(pcma.remote.telephoneEvent, { payloadType: 101, clockRate: 8000 });
    assert.ok(linesOf(pcma.answer).includes('m=audio 20000 RTP/AVP 8 101'));
    const pcmu = answerOf(TWILIO, { preferences: ['opus', 'PCMU'] });
    assert.equal(pcmu.remote.codec.name, 'PCMU');
    assert.equal(pcmu.remote.address, '54.172.60.1');
    assert.equal(pcmu.remote.port, 13430);
  });

  test('video + audio: video declined with port 0 in place, audio from media-level c= and a=rtcp', () => {
    const { answer, remote } = answerOf(VIDEO_AUDIO, { preferences: ['opus', 'PCMU'], ptime: 20 });
    const media = linesOf(answer).filter((line) => line.startsWith('m='));
    assert.deepEqual(media, ['m=video 0 RTP/AVP 96 97', 'm=audio 20000 RTP/AVP 96 101']);
    assert.equal(remote.address, '10.1.1.2');
    assert.equal(remote.rtcpPort, 7079);
    assert.equal(remote.ptime, 40);
    assert.equal(remote.codec.payloadType, 96);
    assert.deepEqual(remote.opus, { useInbandFec: true, stereo: false });
    // Only 8 kHz events offered alongside opus: take them rather than none.
    assert.deepEqual(remote.telephoneEvent, { payloadType: 101, clockRate: 8000 });
    assert.ok(linesOf(answer).includes('a=rtpmap:96 opus/48000/2'));
    assert.ok(linesOf(answer).includes('a=ptime:20'));
  });

  test('rtpmap names match case-insensitively; clock rate must match', () => {
    const offer = sdp(
      'v=0',
      'o=- 1 1 IN IP4 192.0.2.9',
      's=-',
      'c=IN IP4 192.0.2.9',
      't=0 0',
      'm=audio 5000 RTP/AVP 97 98',
      'a=rtpmap:97 OPUS/16000/1',
      'a=rtpmap:98 pcma/8000',
    );
    const { remote } = answerOf(offer, { preferences: ['opus', 'PCMA'] });
    assert.equal(remote.codec.name, 'PCMA');
    assert.equal(remote.codec.payloadType, 98);
  });

  test('o= of the answer uses the given session id and version', () => {
    const { answer } = answerOf(TWILIO, { sessionId: 99, sessionVersion: 3 });
    assert.ok(linesOf(answer).includes('o=patchbay 99 3 IN IP4 203.0.113.5'));
  });
});

describe('negotiateAnswer: direction (RFC 3264 §6.1, §8.4)', () => {
  const table: [string, MediaDirection | undefined, MediaDirection, MediaDirection][] = [
    // address, offered attribute, remote's effective direction, our answer
    ['198.51.100.7', undefined, 'sendrecv', 'sendrecv'],
    ['198.51.100.7', 'sendrecv', 'sendrecv', 'sendrecv'],
    ['198.51.100.7', 'sendonly', 'sendonly', 'recvonly'],
    ['198.51.100.7', 'recvonly', 'recvonly', 'sendonly'],
    ['198.51.100.7', 'inactive', 'inactive', 'inactive'],
    ['0.0.0.0', undefined, 'sendonly', 'recvonly'],
    ['0.0.0.0', 'sendonly', 'sendonly', 'recvonly'],
    ['0.0.0.0', 'recvonly', 'inactive', 'inactive'],
    ['0.0.0.0', 'inactive', 'inactive', 'inactive'],
  ];
  for (const [address, offered, remoteDirection, answered] of table) {
    test(`c=${address} a=${offered ?? '(none)'} -> ${answered}`, () => {
      const { answer, remote, local } = answerOf(holdOffer(address, offered));
      assert.equal(remote.direction, remoteDirection);
      assert.equal(local.direction, answered);
      assert.ok(linesOf(answer).includes(`a=${answered}`));
      assert.equal(remote.address, address);
    });
  }

  test('a session-level direction applies when the m= block has none', () => {
    const offer = TWILIO.replace('a=sendrecv\r\n', '').replace('t=0 0\r\n', 't=0 0\r\na=sendonly\r\n');
    assert.equal(answerOf(offer).local.direction, 'recvonly');
  });
});

describe('negotiateAnswer: rtcp-mux (RFC 5761)', () => {
  test('offered and allowed: muxed; offered but disallowed: separate RTCP port', () => {
    assert.equal(answerOf(BARESIP_OPUS).local.rtcpMux, true);
    const declined = answerOf(BARESIP_OPUS, { rtcpMux: false });
    assert.equal(declined.local.rtcpMux, false);
    assert.equal(declined.remote.rtcpMux, false);
    assert.equal(declined.local.rtcpPort, 20001);
    assert.ok(!linesOf(declined.answer).includes('a=rtcp-mux'));
    assert.ok(linesOf(declined.answer).includes('a=rtcp:20001'));
  });

  test('not offered: never answered, even when allowed', () => {
    const { answer, local } = answerOf(TWILIO, { rtcpMux: true });
    assert.equal(local.rtcpMux, false);
    assert.ok(!linesOf(answer).includes('a=rtcp-mux'));
  });
});

describe('negotiateAnswer: failures never throw', () => {
  test('488 when no codec in common', () => {
    const g729 = TWILIO.replace('RTP/AVP 0 8 101', 'RTP/AVP 18 101')
      .replace('a=rtpmap:0 PCMU/8000', 'a=rtpmap:18 G729/8000')
      .replace('a=rtpmap:8 PCMA/8000\r\n', '');
    assert.deepEqual(negotiateAnswer(g729, LOCAL), { ok: false, status: 488, reason: 'no common codec' });
    const opusOnly = negotiateAnswer(BARESIP_OPUS, { ...LOCAL, preferences: [] });
    assert.equal(opusOnly.ok ? 0 : opusOnly.status, 488);
  });

  test('488 when there is no usable audio stream', () => {
    const videoOnly = VIDEO_AUDIO.slice(0, VIDEO_AUDIO.indexOf('m=audio'));
    assert.deepEqual(negotiateAnswer(videoOnly, LOCAL), {
      ok: false,
      status: 488,
      reason: 'no audio stream',
    });
    const disabled = TWILIO.replace('m=audio 13430', 'm=audio 0');
    assert.equal(negotiateAnswer(disabled, LOCAL).ok, false);
    const srtp = TWILIO.replace('RTP/AVP', 'RTP/SAVP');
    const result = negotiateAnswer(srtp, LOCAL);
    assert.ok(!result.ok && result.status === 488 && /RTP\/SAVP/.test(result.reason));
  });

  const garbage: [string, string][] = [
    ['empty', ''],
    ['not SDP', 'hello world'],
    ['no v=', TWILIO.slice(TWILIO.indexOf('o='))],
    ['no o=', TWILIO.replace(/o=[^\r]*\r\n/, '')],
    ['broken line', TWILIO.replace('s=Twilio', 'Twilio')],
    ['m= without port', TWILIO.replace('m=audio 13430', 'm=audio x')],
    ['non-numeric payload', TWILIO.replace('RTP/AVP 0 8 101', 'RTP/AVP 0 foo')],
    ['no c= for audio', TWILIO.replace('c=IN IP4 54.172.60.1\r\n', '')],
    ['binary', '\u0000\u0001\u00ff\ufffd'.repeat(50)],
    ['huge', `v=0\r\n${'a=x\r\n'.repeat(20000)}`],
    ['an m= port beyond 65535', TWILIO.replace('m=audio 13430', 'm=audio 70000')],
    [
      'an a=rtcp port beyond 65535',
      TWILIO.replace('m=audio 13430 RTP/AVP 0 8 101', 'm=audio 13430 RTP/AVP 0 8 101\r\na=rtcp:99999'),
    ],
    ['a host name in c=', TWILIO.replace('c=IN IP4 54.172.60.1', 'c=IN IP4 media.carrier.example')],
  ];
  for (const [name, body] of garbage) {
    test(`400 for ${name}`, () => {
      const result = negotiateAnswer(body, LOCAL);
      assert.equal(result.ok, false);
      assert.equal(result.ok ? 0 : result.status, 400);
    });
  }

  test('488 for IPv6 media, which the media engine does not send', () => {
    const result = negotiateAnswer(TWILIO.replace('c=IN IP4 54.172.60.1', 'c=IN IP6 2001:db8::5'), LOCAL);
    assert.deepEqual(result.ok ? 'answered' : [result.status, result.reason], [
      488,
      'IPv6 media is not supported',
    ]);
  });

  test('every truncation and corruption of the fixtures gives a result, never an exception', () => {
    for (const fixture of [SIPP_PCMA, BARESIP_OPUS, TWILIO, VIDEO_AUDIO, holdOffer('0.0.0.0')]) {
      for (let cut = 0; cut <= fixture.length; cut += 3) {
        const truncated = negotiateAnswer(fixture.slice(0, cut), LOCAL);
        assert.equal(typeof truncated.ok, 'boolean');
        const flipped = `${fixture.slice(0, cut)}#${fixture.slice(cut + 1)}`;
        assert.equal(typeof negotiateAnswer(flipped, LOCAL).ok, 'boolean');
        assert.equal(typeof parseAnswer(flipped, ['PCMU']).ok, 'boolean');
      }
    }
    assert.equal(negotiateAnswer(undefined as unknown as string, LOCAL).ok, false);
  });
});

describe('round trip of our own offers', () => {
  const offers: [string, Parameters<typeof createOffer>[0]][] = [
    ['PCMU', { address: '192.0.2.1', port: 30000, codecs: ['PCMU'] }],
    ['PCMA first', { address: '192.0.2.1', port: 30002, codecs: ['PCMA', 'PCMU'], ptime: 30 }],
    ['opus + mux', { address: '192.0.2.1', port: 30004, codecs: ['opus', 'PCMU'], rtcpMux: true }],
  ];
  for (const [name, options] of offers) {
    test(name, () => {
      const offer = createOffer(options);
      const answered = answerOf(offer, { preferences: ['opus', 'PCMA', 'PCMU'] });
      const first = options.codecs[0];
      assert.equal(answered.remote.codec.name, options.codecs.includes('PCMA') ? 'PCMA' : first);
      assert.equal(answered.remote.address, options.address);
      assert.equal(answered.remote.port, options.port);
      assert.equal(answered.remote.ptime, options.ptime ?? 20);
      assert.equal(answered.remote.rtcpPort, options.port + 1);
      assert.equal(answered.remote.rtcpMux, options.rtcpMux ?? false);
      const expectedEventRate = answered.remote.codec.name === 'opus' ? 48000 : 8000;
      assert.deepEqual(answered.remote.telephoneEvent, {
        payloadType: expectedEventRate === 48000 ? 110 : 101,
        clockRate: expectedEventRate,
      });
      // The UAC reads our answer back into the same media the UAS chose.
      const parsed = parseAnswer(answered.answer, options.codecs);
      assert.ok(parsed.ok);
      assert.deepEqual(parsed.remote, answered.local);
    });
  }
});

describe('parseAnswer', () => {
  test('uses the first answered codec we offered, with the answer payload types', () => {
    const parsed = parseAnswer(TWILIO, ['PCMA', 'PCMU']);
    assert.ok(parsed.ok);
    assert.equal(parsed.remote.codec.name, 'PCMU');
    assert.deepEqual(parsed.remote.telephoneEvent, { payloadType: 101, clockRate: 8000 });
  });

  test('fails on a rejected stream, foreign codecs or garbage', () => {
    assert.equal(parseAnswer(TWILIO.replace('m=audio 13430', 'm=audio 0'), ['PCMU']).ok, false);
    assert.equal(parseAnswer(TWILIO, ['opus']).ok, false);
    const garbage = parseAnswer('garbage', ['PCMU']);
    assert.ok(!garbage.ok && garbage.reason.startsWith('malformed SDP'));
  });

  test('a hold answer (c=0.0.0.0) reads as not receiving', () => {
    const parsed = parseAnswer(holdOffer('0.0.0.0', 'sendrecv'), ['PCMU']);
    assert.ok(parsed.ok);
    assert.equal(parsed.remote.direction, 'sendonly');
  });
});

describe('re-offers (RFC 3264 §8)', () => {
  const base = { address: '192.0.2.1', port: 30000, codecs: ['PCMU'] as const };

  test('hold and unhold keep the session id and bump the version each time', () => {
    const initial = createOffer({ ...base, codecs: [...base.codecs], sessionId: 555, sessionVersion: 1 });
    const hold = createReoffer(initial, { ...base, codecs: [...base.codecs], direction: 'sendonly' });
    const unhold = createReoffer(hold, { ...base, codecs: [...base.codecs] });
    assert.ok(linesOf(hold).includes('o=patchbay 555 2 IN IP4 192.0.2.1'));
    assert.ok(linesOf(hold).includes('a=sendonly'));
    assert.ok(linesOf(unhold).includes('o=patchbay 555 3 IN IP4 192.0.2.1'));
    assert.ok(linesOf(unhold).includes('a=sendrecv'));
    assert.equal(answerOf(hold).local.direction, 'recvonly');
  });

  test('nextVersion reads any SDP, keeps long ids exact, and is undefined for garbage', () => {
    assert.deepEqual(nextVersion(SIPP_PCMA), { sessionId: '53655765', sessionVersion: 2353687638 });
    const long = TWILIO.replace('o=root 1851245436', 'o=root 98765432109876543210');
    assert.equal(nextVersion(long)?.sessionId, '98765432109876543210');
    assert.equal(nextVersion('nope'), undefined);
  });

  test('sameDescription ignores only the o= line (RFC 3264 §8: an unchanged answer keeps its version)', () => {
    const first = answerOf(TWILIO, { sessionId: 7, sessionVersion: 1 });
    const refresh = answerOf(TWILIO, { sessionId: 7, sessionVersion: 2 });
    assert.equal(sameDescription(first.answer, refresh.answer), true);
    const hold = answerOf(holdOffer('198.51.100.7', 'sendonly'), { sessionId: 7, sessionVersion: 2 });
    assert.equal(sameDescription(first.answer, hold.answer), false);
  });

  test('an answer to a re-INVITE can carry the bumped version', () => {
    const first = answerOf(TWILIO, { sessionId: 7, sessionVersion: 1 });
    const again = answerOf(holdOffer('198.51.100.7', 'sendonly'), { ...nextVersion(first.answer) });
    assert.ok(linesOf(again.answer).includes('o=patchbay 7 2 IN IP4 203.0.113.5'));
  });
});
