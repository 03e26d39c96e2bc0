/** JSON Schema for editors (yaml-language-server) generated from the zod definitions. */
import { z } from 'zod';
import { gatewayFileSchema, trunkSchema } from './schema.js';

/** `io: 'input'` so keys with defaults are optional, as a human writes them. */
export function trunkJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(trunkSchema, { io: 'input', unrepresentable: 'any' }),
    title: 'patchbay trunk (sip-profiles/*.yaml)',
  };
}

export function gatewayJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(gatewayFileSchema, { io: 'input', unrepresentable: 'any' }),
    title: 'patchbay gateway file',
  };
}

export function schemaFileText(schema: Record<string, unknown>): string {
  return `${JSON.stringify(schema, null, 2)}\n`;
}
