import type { StreamDialect, WireMessage } from './dialect.js';

/** A control message the call produced for its bot: built by the dialect when it is sent. */
export type ControlMessage =
  | { kind: 'dtmf'; digit: string; durationMs: number | undefined }
  | { kind: 'mark'; name: string }
  | { kind: 'event'; name: string };

/**
 * The most control messages held while a bot is between sockets. A reconnect takes at most
 * MAX_BACKOFF_MS plus a handshake; a Twilio bot's pending marks (1000 by default) can all
 * come due at once, so this holds them with room for digits.
 */
export const MAX_HELD_CONTROLS = 1024;

/** The wire message for a control, numbered in the dialect's current stream. */
export function buildControl(dialect: StreamDialect, control: ControlMessage): WireMessage | undefined {
  switch (control.kind) {
    case 'dtmf':
      return dialect.dtmf(control.digit, control.durationMs);
    case 'mark':
      return dialect.markPlayed(control.name);
    case 'event':
      return dialect.extensionEvent(control.name);
  }
}

/**
 * Digits, mark echoes and events that came while a reconnecting bot had no socket. A reconnect
 * continues the stream (same `streamSid`, the audio the bot queued still plays), so what the
 * bot would have been told in the gap is told after the new socket's `start`, in order, and
 * numbered in the new stream. Kept as what to build, not as messages: the old socket's
 * sequence numbers mean nothing to the new one.
 */
export class HeldControls {
  readonly #controls: ControlMessage[] = [];

  get length(): number {
    return this.#controls.length;
  }

  /** False when MAX_HELD_CONTROLS already wait: the control is dropped (the caller counts it). */
  hold(control: ControlMessage): boolean {
    if (this.#controls.length >= MAX_HELD_CONTROLS) return false;
    this.#controls.push(control);
    return true;
  }

  /** Every held control, oldest first; the holder is empty after. */
  take(): ControlMessage[] {
    return this.#controls.splice(0);
  }
}
