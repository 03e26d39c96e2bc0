/** Value shapes the config sections share. */
import { z } from 'zod';

export const port = z.number().int().min(1).max(65535);
export const positiveMs = z.number().int().positive();

export const transport = z.enum(['udp', 'tcp', 'tls'], {
  error: (issue) => `transport must be udp, tcp or tls (got ${JSON.stringify(issue.input)})`,
});
/** A country calling code (ITU-T E.164) without the +: 1, 44, 353. */
export const callingCode = z
  .string()
  .regex(/^[1-9][0-9]{0,2}$/, 'a country calling code without +, e.g. "44"');

/** A PEM file; the loader reads it (relative to the file that names it) and fails on what it cannot use. */
export const pemFile = (what: string) => z.string().min(1).describe(what);

/** An address setting that passes `check`; an empty one is refused on its own (leave the key out instead). */
export const addressSetting = (check: (text: string) => boolean, message: string) =>
  z
    .string()
    .min(1, 'empty: set an address or leave the key out')
    .refine((text) => text === '' || check(text), { message });
