/** Test harness: a real `mlflow server` on a random port with a temporary store. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startMlflowServer, type StartedServer } from './server.js';

export const PROJECT_ROOT = path.resolve(import.meta.dirname, '../../..');

export async function startTestServer(port?: number, storeDir?: string): Promise<StartedServer & { storeDir: string }> {
  const dir = storeDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'synthmix-mlflow-'));
  const server = await startMlflowServer({ projectRoot: PROJECT_ROOT, storeDir: dir, port, detached: true, timeoutMs: 120_000 });
  return { ...server, storeDir: dir };
}
