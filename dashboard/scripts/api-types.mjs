// Writes src/api/openapi.gen.ts, the TypeScript types of the HTTP API, from
// the OpenAPI document the Rust code generates (docs/openapi.json, written
// by `cargo xtask openapi`). `npm run gen:api` runs it; api-types.test.mjs
// runs the same function in memory and fails when the committed file has
// drifted from the document.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import openapiTS, { astToString } from 'openapi-typescript';

const here = path.dirname(fileURLToPath(import.meta.url));
export const DOCUMENT = path.resolve(here, '../../docs/openapi.json');
export const OUTPUT = path.resolve(here, '../src/api/openapi.gen.ts');

const HEADER = `// Generated from docs/openapi.json by \`npm run gen:api\` (openapi-typescript,
// pinned in package-lock.json). Do not edit: change the Rust types, run
// \`cargo xtask openapi\`, then \`npm run gen:api\`. Friendly names: ./types.ts.

`;

/** The generated module's text for the OpenAPI document at `document`. */
export async function generate(document = DOCUMENT) {
  const spec = JSON.parse(fs.readFileSync(document, 'utf8'));
  const ast = await openapiTS(spec, { silent: true });
  return HEADER + astToString(ast);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  fs.writeFileSync(OUTPUT, await generate());
  console.log(`wrote ${path.relative(process.cwd(), OUTPUT)} from ${path.relative(process.cwd(), DOCUMENT)}`);
}
