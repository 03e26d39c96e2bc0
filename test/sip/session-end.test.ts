/** Which answers to a request of ours inside a dialog end the dialog (RFC 5057 §5.1). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { endsDialog } from '../../src/sip/session-end.js';

describe('endsDialog (RFC 5057 §5.1)', () => {
  it('the dialog is gone: 481, 408 (also a timeout), and the answers that say its target or route is', () => {
    for (const status of [404, 408, 410, 416, 481, 482, 483, 484, 485, 502, 604])
      assert.equal(endsDialog(status), true, String(status));
  });

  it('any other answer fails the request or its usage only', () => {
    const others = [
      200, 202, 302, 400, 401, 403, 405, 407, 415, 420, 422, 480, 486, 487, 488, 489, 491, 493, 500, 501, 503,
      504, 513, 600, 603, 606,
    ];
    for (const status of others) assert.equal(endsDialog(status), false, String(status));
  });
});
