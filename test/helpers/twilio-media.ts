/**
 * A Twilio `media` message as JSON.stringify writes it from the documented fields, the way the
 * twilio dialect built it before its template: the reference the template must match byte for
 * byte, and the "before" of bench/ws-send.ts.
 */
export function stringifiedMediaMessage(
  streamSid: string,
  sequenceNumber: number,
  chunk: number,
  mulaw: Uint8Array,
): string {
  return JSON.stringify({
    event: 'media',
    sequenceNumber: String(sequenceNumber),
    media: {
      track: 'inbound',
      chunk: String(chunk),
      timestamp: String((chunk - 1) * 20),
      payload: Buffer.from(mulaw).toString('base64'),
    },
    streamSid,
  });
}
