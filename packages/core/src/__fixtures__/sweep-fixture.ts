/**
 * The set-up runner-level tests share: a temporary project root (removed afterwards), the
 * pure-JavaScript backend the fake plugins need, their call counts reset before each test, and
 * plans loaded from manifest text written beside the fake plugins (so `./mean-generator.ts`
 * resolves), each with its own output folder so tests do not resume each other's sweeps.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { loadBackend, type LoadedBackend } from '../backend.js';
import { loadManifest, type ResolvedPlan } from '../manifest.js';
import { loadPlugin } from '../plugins.js';
import { calls } from './fake-plugins.js';

export function sweepFixture(prefix: string) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), `synthmix-${prefix}-`));
  let backend: LoadedBackend | undefined;
  beforeAll(async () => {
    backend = await loadBackend('cpu');
  });
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));
  beforeEach(() => Object.assign(calls, { train: 0, generate: 0, fit: 0 }));
  return {
    root,
    get backend(): LoadedBackend {
      if (!backend) throw new Error('the backend loads in beforeAll');
      return backend;
    },
    /** The plan of `text` with its output in runs/<name>. */
    async plan(name: string, text: string, overrides: string[] = []): Promise<ResolvedPlan> {
      const file = path.join(import.meta.dirname, `.${prefix}-${name}.yaml`);
      fs.writeFileSync(file, text);
      try {
        return await loadManifest(file, { projectRoot: root, overrides: [`output=runs/${name}`, ...overrides], pluginSchema: async (ref, kind, dir) => (await loadPlugin(ref, kind, dir)).optionsSchema });
      } finally {
        fs.rmSync(file);
      }
    },
  };
}
