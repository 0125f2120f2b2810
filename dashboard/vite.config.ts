// Vite builds the dashboard into dist/, which `wasmbed up --dashboard-dir`
// serves. In development (`npm run dev`) API calls are proxied to a running
// platform: WASMBED_API=http://127.0.0.1:PORT npm run dev.
import { defineConfig } from 'vitest/config';

const api = process.env.WASMBED_API ?? 'http://127.0.0.1:8080';

export default defineConfig({
  // No React plugin: esbuild compiles TSX itself; fast refresh is not worth a dependency.
  esbuild: { jsx: 'automatic' },
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: true },
  server: {
    host: '127.0.0.1',
    proxy: { '/api': { target: api, changeOrigin: false } },
  },
  test: { include: ['src/**/*.test.{ts,tsx}', 'scripts/**/*.test.mjs'], environment: 'node' },
});
