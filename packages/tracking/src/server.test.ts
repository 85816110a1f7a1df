import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ensureEmbeddedServer, runningServer, serverMemoryMb, stopEmbeddedServer } from './server.js';
import { PROJECT_ROOT } from './test-server.js';

describe('the embedded MLflow server', () => {
  it('starts lean, is found again, reports its memory, and stops on request', async () => {
    const store = fs.mkdtempSync(path.join(os.tmpdir(), 'synthmix-embedded-'));
    const first = await ensureEmbeddedServer(PROJECT_ROOT, store);
    try {
      expect(first.started).toBe(true);
      expect((await ensureEmbeddedServer(PROJECT_ROOT, store)).started).toBe(false);
      // MLflow's job runner (seven huey consumers, ~2.3 GB) starts within seconds when enabled.
      await new Promise((r) => setTimeout(r, 6000));
      const memory = serverMemoryMb(first.pid)!;
      expect(memory).toBeGreaterThan(50);
      expect(memory).toBeLessThan(1200);
    } finally {
      expect(await stopEmbeddedServer(store)).toMatchObject({ url: first.url, pid: first.pid });
    }
    expect(await runningServer(store)).toBeUndefined();
    expect(fs.existsSync(path.join(store, 'server.json'))).toBe(false);
    expect(await stopEmbeddedServer(store)).toBeUndefined();
  });
});
