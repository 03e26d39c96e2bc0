/**
 * Signing the WebSocket upgrade to a bot in the manner of `X-Twilio-Signature`: Twilio signs
 * the URL (plus sorted POST parameters) with HMAC-SHA1 and the auth token; patchbay signs the
 * full URL followed by the body with HMAC-SHA256, base64, so a bot can verify the request
 * came from its gateway with one shared secret.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export function signRequest(secret: string, url: string, body = ''): string {
  return createHmac('sha256', secret).update(url).update(body).digest('base64');
}

export function verifySignature(secret: string, url: string, body: string, signature: string): boolean {
  const expected = Buffer.from(signRequest(secret, url, body));
  const presented = Buffer.from(signature);
  return expected.length === presented.length && timingSafeEqual(expected, presented);
}
