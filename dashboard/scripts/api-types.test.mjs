import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { generate, OUTPUT } from './api-types.mjs';

describe('src/api/openapi.gen.ts', () => {
  it('is what docs/openapi.json generates (run `npm run gen:api` after `cargo xtask openapi`)', async () => {
    const committed = fs.readFileSync(OUTPUT, 'utf8');
    // toBe on two long strings prints a diff; a boolean would hide what drifted.
    expect(committed).toBe(await generate());
  }, 60_000);
});
