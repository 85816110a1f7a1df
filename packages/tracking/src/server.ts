/**
 * The embedded MLflow server: with no tracking URI configured, synthmix starts `mlflow server`
 * from the project's Python environment (SQLite store, local artifact folder, 127.0.0.1, a free
 * port) and keeps it running for `synthmix mlflow` to browse later.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { writeJsonAtomic } from '@synthmix/core';
import net from 'node:net';
import path from 'node:path';

export interface ServerInfo {
  url: string;
  pid: number;
  port: number;
  storeDir: string;
  startedAt: string;
}

export class MlflowNotInstalledError extends Error {
  constructor(readonly looked: string[]) {
    super(`MLflow is not installed (looked for ${looked.join(', ')}). Install it with \`npm run setup\` (creates .venv with MLflow), or \`python3 -m pip install mlflow\`, or set MLFLOW_TRACKING_URI to a running server.`);
    this.name = 'MlflowNotInstalledError';
  }
}

/** The `mlflow` executable: $SYNTHMIX_MLFLOW, the project's .venv, then PATH. */
export function findMlflow(projectRoot: string, env: NodeJS.ProcessEnv = process.env): string {
  const candidates = [env.SYNTHMIX_MLFLOW, path.join(projectRoot, '.venv', 'bin', 'mlflow')].filter((c): c is string => !!c);
  for (const c of candidates) if (fs.existsSync(c)) return c;
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    const c = path.join(dir, 'mlflow');
    if (dir && fs.existsSync(c)) return c;
  }
  throw new MlflowNotInstalledError([...candidates, 'mlflow on PATH']);
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

async function healthy(url: string): Promise<boolean> {
  try {
    return (await fetch(`${url}/health`, { signal: AbortSignal.timeout(2000) })).ok;
  } catch {
    return false;
  }
}

export async function waitForHealth(url: string, timeoutMs: number, isAlive: () => boolean = () => true): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await healthy(url)) return;
    if (!isAlive()) throw new Error(`MLflow server at ${url} exited while starting`);
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new Error(`MLflow server at ${url} did not answer /health within ${Math.round(timeoutMs / 1000)} s`);
}

/**
 * The environment of a server synthmix starts. MLflow 3 starts a job runner (seven huey consumer
 * processes, about 230 MB each) for features synthmix does not use; without it the server holds
 * about a quarter of the memory (bench/mlflow-server.mjs measures it).
 */
export function leanServerEnv(base: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return { ...base, MLFLOW_TRACKING_URI: '', MLFLOW_SERVER_ENABLE_JOB_EXECUTION: 'false' };
}

export interface StartOptions {
  projectRoot: string;
  /** Folder for the SQLite store, artifacts, log and server.json. */
  storeDir: string;
  port?: number;
  /** Keep running after this process exits (the embedded default); tests pass false. */
  detached?: boolean;
  timeoutMs?: number;
  /** Extra environment of the server (benchmarks compare settings). */
  env?: NodeJS.ProcessEnv;
}

export interface StartedServer extends ServerInfo {
  stop(): Promise<void>;
}

export async function startMlflowServer(options: StartOptions): Promise<StartedServer> {
  const mlflow = findMlflow(options.projectRoot);
  fs.mkdirSync(path.join(options.storeDir, 'artifacts'), { recursive: true });
  const port = options.port ?? (await freePort());
  const url = `http://127.0.0.1:${port}`;
  const log = fs.openSync(path.join(options.storeDir, 'server.log'), 'a');
  const child = spawn(mlflow, [
    'server', '--host', '127.0.0.1', '--port', String(port),
    '--backend-store-uri', `sqlite:///${path.resolve(options.storeDir, 'mlflow.db')}`,
    '--artifacts-destination', path.resolve(options.storeDir, 'artifacts'),
    '--workers', '1',
  ], { detached: options.detached ?? false, stdio: ['ignore', log, log], env: { ...leanServerEnv(process.env), ...options.env } });
  fs.closeSync(log);
  let alive = true;
  child.on('exit', () => (alive = false));
  try {
    await waitForHealth(url, options.timeoutMs ?? 90_000, () => alive);
  } catch (err) {
    child.kill('SIGKILL');
    const tail = fs.readFileSync(path.join(options.storeDir, 'server.log'), 'utf8').trim().split('\n').slice(-5).join('\n');
    throw new Error(`${(err as Error).message}\n${tail}`);
  }
  const info: ServerInfo = { url, pid: child.pid!, port, storeDir: options.storeDir, startedAt: new Date().toISOString() };
  if (options.detached) {
    child.unref();
    writeJsonAtomic(path.join(options.storeDir, 'server.json'), info, 2);
  }
  return {
    ...info,
    stop: async () => {
      if (!alive) return;
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      // The server runs uvicorn workers in its process group.
      try {
        process.kill(options.detached ? -child.pid! : child.pid!, 'SIGTERM');
      } catch { /* already gone */ }
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** The embedded server recorded in `storeDir/server.json`, if it still answers. */
export async function runningServer(storeDir: string): Promise<ServerInfo | undefined> {
  const file = path.join(storeDir, 'server.json');
  if (!fs.existsSync(file)) return undefined;
  const info = JSON.parse(fs.readFileSync(file, 'utf8')) as ServerInfo;
  return (await healthy(info.url)) ? info : undefined;
}

/** Reuses the embedded server if it runs, else starts it detached. */
export async function ensureEmbeddedServer(projectRoot: string, storeDir = path.join(projectRoot, '.synthmix', 'mlflow')): Promise<ServerInfo & { started: boolean }> {
  const running = await runningServer(storeDir);
  if (running) return { ...running, started: false };
  const started = await startMlflowServer({ projectRoot, storeDir, detached: true });
  return { url: started.url, pid: started.pid, port: started.port, storeDir: started.storeDir, startedAt: started.startedAt, started: true };
}

/** Stops the embedded server recorded in `storeDir/server.json` (its process group); the store stays. */
export async function stopEmbeddedServer(storeDir: string): Promise<ServerInfo | undefined> {
  const file = path.join(storeDir, 'server.json');
  const info = await runningServer(storeDir);
  if (!info) {
    fs.rmSync(file, { force: true });
    return undefined;
  }
  try {
    process.kill(-info.pid, 'SIGTERM');
  } catch {
    try {
      process.kill(info.pid, 'SIGTERM');
    } catch { /* already gone */ }
  }
  for (let i = 0; i < 50 && (await healthy(info.url)); i++) await new Promise((r) => setTimeout(r, 200));
  fs.rmSync(file, { force: true });
  return info;
}

/** Resident memory of a server's process group in MiB (Linux /proc), or undefined. */
export function serverMemoryMb(pid: number): number | undefined {
  try {
    let kb = 0;
    for (const entry of fs.readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        // fields[2] is the process group id.
        if (Number(fields[2]) !== pid) continue;
        const rss = fs.readFileSync(`/proc/${entry}/status`, 'utf8').match(/^VmRSS:\s+(\d+)/m);
        if (rss) kb += Number(rss[1]);
      } catch { /* exited meanwhile */ }
    }
    return kb ? kb / 1024 : undefined;
  } catch {
    return undefined;
  }
}
