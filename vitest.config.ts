import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const root = fileURLToPath(new URL('.', import.meta.url));
const packages = ['compile', 'core', 'data', 'metrics', 'gan-dcgan', 'gen-ddpm', 'cnn-tumor', 'tracking', 'cli'];

// Tests import sibling packages from source, so `npm test` needs no build step.
const alias = packages.map((name) => ({ find: `@synthmix/${name}`, replacement: `${root}packages/${name}/src/index.ts` }));

export default defineConfig({
  resolve: { alias },
  test: {
    reporters: ['default', './test/summary-reporter.ts'],
    // TensorFlow is loaded once per worker and uses both cores itself; one worker at a time
    // keeps timings sane on a 2-core machine.
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 180_000,
    projects: [
      ...packages.map((name) => ({ resolve: { alias }, test: { name, root: `${root}packages/${name}`, include: ['src/**/*.test.{ts,tsx}'], testTimeout: 120_000, hookTimeout: 180_000 } })),
      { resolve: { alias }, test: { name: 'e2e', root: `${root}test`, include: ['**/*.test.{ts,tsx}'], testTimeout: 600_000, hookTimeout: 600_000 } },
    ],
  },
});
