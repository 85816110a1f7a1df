/**
 * The `ray` executor: every job is a Ray job submitted to an existing cluster through Ray's Jobs
 * REST API (submit, poll, logs, stop). Its entrypoint is `synthmix worker <job file>`; the job
 * reports its events through the sweep's folder, which must be on a filesystem every node sees.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { sweepLayout } from '../layout.js';
import { UserError } from '../errors.js';
import type { SweepEventInput } from '../events.js';
import { ExecutorUnavailableError, followJsonLines, logTail, readOutcome, type ExecutorFactory, type JobOutcome } from './executor.js';

/** The Jobs API lives on the dashboard's HTTP address (port 8265 by default). */
export function normaliseRayAddress(address: string): string {
  const a = address.trim();
  if (/^ray:\/\//.test(a) || /^[^/:]+:(6379|10001)$/.test(a)) {
    throw new UserError(`Ray address "${a}" is the cluster's GCS or client port; the executor talks to the Jobs API on the dashboard's HTTP address, e.g. http://127.0.0.1:8265`);
  }
  const url = /^https?:\/\//.test(a) ? a : `http://${a}`;
  return url.replace(/\/+$/, '');
}

const TERMINAL = new Set(['SUCCEEDED', 'FAILED', 'STOPPED']);

export interface RayJobInfo {
  submission_id: string;
  status: 'PENDING' | 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'STOPPED';
  message?: string;
  driver_exit_code?: number | null;
}

export interface RayClusterInfo {
  rayVersion: string;
  nodes: { hostname: string; alive: boolean; resources: Record<string, number> }[];
  /** Summed over alive nodes (CPU, GPU, memory in bytes, …). */
  resources: Record<string, number>;
}

/** A small client of Ray's Jobs REST API. Connection failures become {@link RayUnreachableError}. */
export class RayJobsClient {
  constructor(readonly address: string, private readonly timeoutMs = 10_000) {}

  private request(method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; text: string }> {
    // node:http rather than fetch: fetch sends Sec-Fetch-* headers, and Ray's dashboard refuses
    // POSTs that look like browser traffic (HTTP 405).
    const url = new URL(`${this.address}${path}`);
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = (url.protocol === 'https:' ? https : http).request(url, { method, headers: { accept: 'application/json', 'user-agent': 'synthmix', ...(payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}) }, timeout: this.timeoutMs }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', (err) => reject(new RayUnreachableError(`Ray cluster at ${this.address} is not reachable (${err.message})`)));
      });
      req.on('timeout', () => req.destroy(new Error(`no answer in ${this.timeoutMs / 1000} s`)));
      req.on('error', (err) => reject(new RayUnreachableError(`Ray cluster at ${this.address} is not reachable (${(err as NodeJS.ErrnoException).code ?? err.message})`)));
      if (payload) req.write(payload);
      req.end();
    });
  }

  private async json<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    const { status, text } = await this.request(method, path, body);
    if (status >= 400) throw new Error(`Ray ${method} ${path}: HTTP ${status}: ${text.slice(0, 300)}`);
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new Error(`Ray ${method} ${path}: not JSON: ${text.slice(0, 200)}`);
    }
  }

  async cluster(): Promise<RayClusterInfo> {
    const version = await this.json<{ ray_version: string }>('GET', '/api/version');
    const nodes = await this.json<{ data: { summary: { hostname: string; raylet: { state: string; resourcesTotal?: Record<string, number> } }[] } }>('GET', '/nodes?view=summary');
    const list = nodes.data.summary.map((n) => ({ hostname: n.hostname, alive: n.raylet.state === 'ALIVE', resources: Object.fromEntries(Object.entries(n.raylet.resourcesTotal ?? {}).filter(([k]) => !k.startsWith('node:'))) }));
    const resources: Record<string, number> = {};
    for (const n of list.filter((x) => x.alive)) for (const [k, v] of Object.entries(n.resources)) resources[k] = (resources[k] ?? 0) + v;
    return { rayVersion: version.ray_version, nodes: list, resources };
  }

  submit(body: { entrypoint: string; submission_id: string; entrypoint_num_cpus?: number; entrypoint_num_gpus?: number; entrypoint_memory?: number; runtime_env?: { env_vars?: Record<string, string> }; metadata?: Record<string, string> }): Promise<{ submission_id: string }> {
    return this.json('POST', '/api/jobs/', body);
  }

  job(id: string): Promise<RayJobInfo> {
    return this.json('GET', `/api/jobs/${encodeURIComponent(id)}`);
  }

  async logs(id: string): Promise<string> {
    return (await this.json<{ logs: string }>('GET', `/api/jobs/${encodeURIComponent(id)}/logs`)).logs;
  }

  async stop(id: string): Promise<boolean> {
    return (await this.json<{ stopped: boolean }>('POST', `/api/jobs/${encodeURIComponent(id)}/stop`)).stopped;
  }
}

export class RayUnreachableError extends Error {}

/** Quotes one argument for the POSIX shell Ray runs entrypoints with. */
export function shellQuote(arg: string): string {
  return /^[A-Za-z0-9_./:=@+-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export const rayExecutor: ExecutorFactory = (ctx) => {
  const { execution } = ctx;
  if (!execution.address) throw new UserError('the ray executor needs a cluster address: --ray-address, execution.address in the manifest, or RAY_ADDRESS (the dashboard URL, e.g. http://127.0.0.1:8265)');
  const command = ctx.workerCommand;
  if (!command?.length) throw new Error('the ray executor needs the `synthmix worker` command');
  const client = new RayJobsClient(normaliseRayAddress(execution.address));
  /** How long the cluster may stay silent before the sweep gives up on it. */
  const graceMs = execution.unreachableTimeoutMs ?? 15_000;
  const pollMs = execution.pollIntervalMs ?? 500;
  const submitted = new Set<string>();
  let cluster: RayClusterInfo | undefined;
  const slots = Math.max(1, execution.workers);

  const unavailable = (what: string, err: Error) =>
    new ExecutorUnavailableError(`${err.message} ${what}. What finished is kept in the sweep's folder; start the cluster again and rerun the same command to resume.`);

  return {
    name: 'ray',
    slots,
    get description() {
      return `ray at ${client.address}${cluster ? ` (Ray ${cluster.rayVersion}, ${cluster.resources.CPU ?? 0} CPU, ${cluster.resources.GPU ?? 0} GPU)` : ''}, up to ${slots} job(s) at once`;
    },
    async start() {
      try {
        cluster = await client.cluster();
      } catch (err) {
        if (err instanceof RayUnreachableError) throw unavailable('before the sweep started', err);
        throw err;
      }
    },
    async run(job, attempt, hooks): Promise<JobOutcome> {
      const layout = sweepLayout(job.outputDir);
      const files = { events: layout.jobEvents(job.id, attempt), outcome: layout.jobOutcome(job.id, attempt), log: layout.jobLog(job.id, attempt) };
      for (const f of Object.values(files)) fs.rmSync(f, { force: true });
      const submissionId = `synthmix-${job.id}-a${attempt}-${randomBytes(4).toString('hex')}`;
      const entrypoint = [...command, layout.jobFile(job.id), '--attempt', String(attempt)].map(shellQuote).join(' ');
      const threads = String(Math.max(1, Math.floor(execution.cpusPerJob ?? 1)));
      const follower = followJsonLines(files.events, (e) => hooks.onEvent(e as SweepEventInput));
      try {
        try {
          await client.submit({
            entrypoint,
            submission_id: submissionId,
            entrypoint_num_cpus: execution.cpusPerJob ?? 1,
            ...(execution.gpusPerJob ? { entrypoint_num_gpus: execution.gpusPerJob } : {}),
            ...(execution.memoryPerJobMb ? { entrypoint_memory: execution.memoryPerJobMb * 1024 * 1024 } : {}),
            runtime_env: { env_vars: { TF_NUM_INTRAOP_THREADS: threads, TF_NUM_INTEROP_THREADS: threads, OMP_NUM_THREADS: threads, NO_COLOR: '1' } },
            metadata: { synthmix_job: job.id, synthmix_sweep: job.outputDir },
          });
        } catch (err) {
          if (err instanceof RayUnreachableError) throw unavailable(`when submitting job ${job.id}`, err);
          throw err;
        }
        submitted.add(submissionId);
        let silentSince: number | undefined;
        let stopRequested = false;
        for (;;) {
          if (hooks.signal.aborted && !stopRequested) {
            stopRequested = true;
            await client.stop(submissionId).catch(() => undefined);
          }
          let info: RayJobInfo;
          try {
            info = await client.job(submissionId);
            silentSince = undefined;
          } catch (err) {
            if (!(err instanceof RayUnreachableError)) throw err;
            if (stopRequested) return { status: 'interrupted' };
            silentSince ??= Date.now();
            if (Date.now() - silentSince > graceMs) throw unavailable(`while job ${job.id} ran (no answer for ${Math.round(graceMs / 1000)} s)`, err);
            await sleep(pollMs);
            continue;
          }
          if (TERMINAL.has(info.status)) {
            follower.stop();
            const logs = await client.logs(submissionId).catch(() => '');
            fs.writeFileSync(files.log, logs);
            if (stopRequested || hooks.signal.aborted) return { status: 'interrupted' };
            const outcome = readOutcome(files.outcome);
            if (outcome && info.status === 'SUCCEEDED') return outcome;
            if (outcome?.status === 'failed') return outcome;
            const tail = logTail(files.log);
            const why = info.status === 'STOPPED' ? 'was stopped on the cluster' : `ended ${info.status}${info.message ? ` (${info.message.split('\n')[0]})` : ''}`;
            return { status: 'failed', error: `Ray job ${submissionId} ${why} before the worker finished${tail ? `; its last output:\n${tail}` : ''}` };
          }
          await sleep(pollMs);
        }
      } finally {
        follower.stop();
        submitted.delete(submissionId);
      }
    },
    async close() {
      // Jobs still submitted (a sweep that ended abruptly) are stopped, not left on the cluster.
      await Promise.all([...submitted].map((id) => client.stop(id).catch(() => undefined)));
    },
  };
};
