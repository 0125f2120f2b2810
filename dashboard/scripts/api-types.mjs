// Writes src/api/openapi.gen.ts, the TypeScript types of the HTTP API, from
// the OpenAPI document the Rust code generates (docs/openapi.json, committed,
// with a Rust test that fails when it drifts from the code). The file is not
// committed: `npm run gen:api` runs before every dev server, build, type
// check and test, so the dashboard always compiles against the API as it is
// and tsc fails where the two disagree.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import openapiTS, { astToString } from 'openapi-typescript';

const here = path.dirname(fileURLToPath(import.meta.url));
export const DOCUMENT = path.resolve(here, '../../docs/openapi.json');
export const OUTPUT = path.resolve(here, '../src/api/openapi.gen.ts');

const HEADER = `// Generated from docs/openapi.json by \`npm run gen:api\` (openapi-typescript,
// pinned in package-lock.json) before every build, type check and test; not
// committed. Change the Rust types and run \`cargo xtask openapi\`. Friendly
// names: ./types.ts.

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
