/** SIP INFO digits (application/dtmf-relay) as carriers and phones write them. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { infoDigit } from '../../src/gateway/call-media.js';

describe('infoDigit', () => {
  it('reads the Signal and its Duration in ms', () => {
    assert.deepEqual(infoDigit('Signal=5\r\nDuration=160\r\n'), { digit: '5', durationMs: 160 });
    assert.deepEqual(infoDigit('Signal= *\r\n'), { digit: '*' });
    assert.deepEqual(infoDigit('signal = d\nduration = 250'), { digit: 'D', durationMs: 250 });
  });

  it('maps an RFC 4733 event code to its digit: 10 is *, 11 #, 12-15 A-D', () => {
    assert.deepEqual(infoDigit('Signal=10\r\nDuration=100'), { digit: '*', durationMs: 100 });
    assert.deepEqual(infoDigit('Signal=11'), { digit: '#' });
    assert.deepEqual(infoDigit('Signal=15'), { digit: 'D' });
    assert.deepEqual(infoDigit('Signal=07'), { digit: '7' });
  });

  it('reads no digit from a flash, a longer value or a body without a Signal line', () => {
    assert.equal(infoDigit('Signal=16'), undefined, 'flash (event 16)');
    assert.equal(infoDigit('Signal=123'), undefined);
    assert.equal(infoDigit('Signal=1x'), undefined);
    assert.equal(infoDigit('XSignal=1'), undefined);
    assert.equal(infoDigit(''), undefined);
  });

  it('leaves out a Duration that is not a positive number of ms', () => {
    assert.deepEqual(infoDigit('Signal=1\r\nDuration=0'), { digit: '1' });
    assert.deepEqual(infoDigit('Signal=1\r\nDuration=-5'), { digit: '1' });
    assert.deepEqual(infoDigit('Signal=1\r\nDuration=9999999'), { digit: '1' });
  });
});
