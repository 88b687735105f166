import { defineConfig, loadEnv } from 'vite';
import type { TestUserConfig as VitestConfig } from 'vitest/node';

// The UI is served by nva at / (the REST API stays under /api/), so the
// bundle uses absolute asset URLs. `npm run dev` proxies /api to a local nva
// (NVA_API=http://host:port overrides 127.0.0.1:8080).
export default defineConfig(({ mode }) => {
  const env = loadEnv(mode, '.', '');
  const test: VitestConfig = {
    include: ['src/**/*.test.ts'],
    environment: 'node',
    benchmark: { include: ['src/**/*.bench.ts'] },
  };
  return {
    base: '/',
    build: {
      outDir: 'dist',
      // dist/ is emptied on every build; dist/.placeholder (committed, so
      // that go:embed compiles before the first build) comes back from
      // public/.placeholder, which vite copies like any public file.
      emptyOutDir: true,
      assetsDir: 'assets',
      chunkSizeWarningLimit: 1024,
    },
    server: {
      host: '127.0.0.1',
      proxy: {
        '/api': { target: env.NVA_API || 'http://127.0.0.1:8080', changeOrigin: true },
      },
    },
    test,
  };
});
