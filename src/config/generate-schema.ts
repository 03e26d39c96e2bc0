/** Writes sip-profiles/schema.json and sip-profiles/gateway.schema.json: `npx tsx src/config/generate-schema.ts`. */
import { writeFileSync } from 'node:fs';
import { gatewayJsonSchema, schemaFileText, trunkJsonSchema } from './json-schema.js';

const dir = new URL('../../sip-profiles/', import.meta.url);
writeFileSync(new URL('schema.json', dir), schemaFileText(trunkJsonSchema()));
writeFileSync(new URL('gateway.schema.json', dir), schemaFileText(gatewayJsonSchema()));
