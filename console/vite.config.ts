import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// The console is served by `ragd serve` from dist/ (src/http/routes/console.ts): hashed file
// names under assets/ (cached for a year), no inline scripts (the CSP allows only 'self').
export default defineConfig({
  plugins: [react()],
  base: '/',
  build: { outDir: 'dist', assetsDir: 'assets', sourcemap: false, modulePreload: { polyfill: false } },
  server: { proxy: { '/v1': { target: 'http://127.0.0.1:8080', ws: true } } },
});
