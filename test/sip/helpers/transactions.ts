/**
 * The four transaction machines on a FakeClock, with string requests and status-only
 * responses, for the transaction tests. Each records what it sends and when, the states it goes
 * through and how it ends; a client's TU events are kept as text.
 */
import {
  DEFAULT_TIMER_PROFILE,
  InviteClientTransaction,
  InviteServerTransaction,
  NonInviteClientTransaction,
  NonInviteServerTransaction,
  type TimerProfile,
  type Transaction,
  type TransactionEnd,
  type TransactionState,
} from '../../../src/sip/transaction/index.js';
import { FakeClock } from '../../../src/util/index.js';

export interface FakeResponse {
  status: number;
}

/** What a test may change besides reliability: a send that fails, other timer values. */
export interface Setup {
  send?: () => Promise<void> | void;
  profile?: TimerProfile;
}

/** A fake response's bytes: its status. */
const serialize = (response: FakeResponse) => Buffer.from(String(response.status));

function recorder(reliable: boolean, setup: Setup) {
  const sent: { at: number; message: string }[] = [];
  const states: TransactionState[] = [];
  const ends: TransactionEnd[] = [];
  const clock = new FakeClock();
  const record = (message: string | Buffer): void => {
    sent.push({ at: clock.now(), message: String(message) });
  };
  return {
    clock,
    sent,
    states,
    ends,
    options: { clock, profile: setup.profile ?? DEFAULT_TIMER_PROFILE, reliable, send: setup.send ?? record },
    watch(transaction: Transaction) {
      states.push(transaction.state);
      transaction.on('state', (state) => states.push(state));
      transaction.on('ended', (end) => ends.push(end));
    },
  };
}

function clientUser(events: string[]) {
  return {
    onProvisional: (response: FakeResponse) => events.push(`prov ${response.status}`),
    onFinal: (response: FakeResponse) => events.push(`final ${response.status}`),
    onTimeout: () => events.push('timeout'),
    onTransportError: () => events.push('transport-error'),
  };
}

/** An INVITE client transaction, started. */
export function inviteClient(reliable: boolean, setup: Setup = {}) {
  const { options, ...r } = recorder(reliable, setup);
  const events: string[] = [];
  const tx = new InviteClientTransaction<string, FakeResponse>({
    ...options,
    request: 'INVITE',
    createAck: (response) => `ACK/${response.status}`,
    user: clientUser(events),
  });
  r.watch(tx);
  tx.start();
  return { ...r, tx, events };
}

/** A non-INVITE (BYE) client transaction, started. */
export function nonInviteClient(reliable: boolean, setup: Setup = {}) {
  const { options, ...r } = recorder(reliable, setup);
  const events: string[] = [];
  const tx = new NonInviteClientTransaction<string, FakeResponse>({
    ...options,
    request: 'BYE',
    user: clientUser(events),
  });
  r.watch(tx);
  tx.start();
  return { ...r, tx, events };
}

export function inviteServer(reliable: boolean, setup: Setup = {}) {
  const { options, ...r } = recorder(reliable, setup);
  const tx = new InviteServerTransaction<string, FakeResponse>({
    ...options,
    request: 'INVITE',
    serialize,
    createTrying: () => ({ status: 100 }),
  });
  r.watch(tx);
  return { ...r, tx };
}

/** A non-INVITE (BYE) server transaction. */
export function nonInviteServer(reliable: boolean, setup: Setup = {}) {
  const { options, ...r } = recorder(reliable, setup);
  const tx = new NonInviteServerTransaction<string, FakeResponse>({ ...options, request: 'BYE', serialize });
  r.watch(tx);
  return { ...r, tx };
}
