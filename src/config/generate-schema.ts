/**
 * Writes sip-profiles/schema.json and sip-profiles/gateway.schema.json.
 * Run from the repository root: `npx tsx src/config/generate-schema.ts`.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gatewayJsonSchema, schemaFileText, trunkJsonSchema } from './json-schema.js';

writeFileSync(join('sip-profiles', 'schema.json'), schemaFileText(trunkJsonSchema()));
writeFileSync(join('sip-profiles', 'gateway.schema.json'), schemaFileText(gatewayJsonSchema()));
