/**
 * A small typed client for the MLflow REST API (2.x/3.x servers), over fetch.
 *
 * It honours the Python client's environment (MLFLOW_TRACKING_URI, basic or bearer auth,
 * MLFLOW_HTTP_REQUEST_* retry and timeout settings), validates keys and values before sending,
 * chunks batches to the server's limits and retries only what is safe to retry.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export const LIMITS = {
  metricsPerBatch: 1000,
  entitiesPerBatch: 1000,
  paramsPerBatch: 100,
  tagsPerBatch: 100,
  batchBytes: 1_000_000,
  keyLength: 250,
  paramValueLength: 6000,
  tagValueLength: 8000,
} as const;

const KEY_PATTERN = /^[/\w.\- :]*$/;
const NON_FINITE = new Set(['NaN', 'Infinity', '-Infinity']);

export type RunStatus = 'RUNNING' | 'SCHEDULED' | 'FINISHED' | 'FAILED' | 'KILLED';
export interface Metric { key: string; value: number; timestamp: number; step: number }
export interface Param { key: string; value: string }
export interface Tag { key: string; value: string }
export interface RunInfo { run_id: string; experiment_id: string; run_name?: string; status: RunStatus; artifact_uri: string; start_time?: number; end_time?: number; lifecycle_stage?: string }
export interface Run { info: RunInfo; data: { metrics?: Metric[]; params?: Param[]; tags?: Tag[] }; inputs?: { dataset_inputs?: { dataset: { name: string; digest: string; source?: string } }[] } }
export interface Experiment { experiment_id: string; name: string; artifact_location?: string; lifecycle_stage?: string }

export class MlflowValidationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MlflowValidationError';
  }
}

/** An HTTP error answer from the server (after retries, for retryable ones). */
export class MlflowHttpError extends Error {
  constructor(readonly status: number, readonly code: string | undefined, message: string) {
    super(message);
    this.name = 'MlflowHttpError';
  }
}

/** The server could not be reached (connection refused, reset, timeout) after retries. */
export class MlflowUnreachableError extends Error {
  constructor(readonly url: string, cause: unknown) {
    super(`MLflow server at ${url} is unreachable: ${(cause as Error)?.message ?? String(cause)}`);
    this.name = 'MlflowUnreachableError';
  }
}

export interface ClientOptions {
  trackingUri: string;
  username?: string;
  password?: string;
  token?: string;
  maxRetries?: number;
  backoffFactor?: number;
  backoffJitter?: number;
  timeoutSeconds?: number;
  /** For tests: how to wait between retries. */
  sleep?: (ms: number) => Promise<void>;
}

/** Options from the same environment variables the Python client reads. */
export function optionsFromEnv(env: NodeJS.ProcessEnv = process.env, trackingUri?: string): ClientOptions | undefined {
  const uri = trackingUri ?? env.MLFLOW_TRACKING_URI;
  if (!uri) return undefined;
  const num = (name: string) => (env[name] !== undefined && env[name] !== '' ? Number(env[name]) : undefined);
  return {
    trackingUri: uri,
    username: env.MLFLOW_TRACKING_USERNAME,
    password: env.MLFLOW_TRACKING_PASSWORD,
    token: env.MLFLOW_TRACKING_TOKEN,
    maxRetries: num('MLFLOW_HTTP_REQUEST_MAX_RETRIES'),
    backoffFactor: num('MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR'),
    backoffJitter: num('MLFLOW_HTTP_REQUEST_BACKOFF_JITTER'),
    timeoutSeconds: num('MLFLOW_HTTP_REQUEST_TIMEOUT'),
  };
}

export function validateKey(key: string, what: string): void {
  if (!key) throw new MlflowValidationError(`${what} key is empty`);
  if (key.length > LIMITS.keyLength) throw new MlflowValidationError(`${what} key "${key.slice(0, 40)}…" is ${key.length} characters; MLflow allows ${LIMITS.keyLength}`);
  if (!KEY_PATTERN.test(key)) throw new MlflowValidationError(`${what} key "${key}" has characters MLflow rejects; allowed: letters, digits, _ - . space / :`);
  if (key.split('/').some((p) => p === '..' || p === '.')) throw new MlflowValidationError(`${what} key "${key}" must not contain "." or ".." path segments`);
}

/** Makes any string a valid key (for names derived from user data such as class names). */
export function sanitizeKey(key: string): string {
  return key.replace(/[^/\w.\- :]/g, '_').slice(0, LIMITS.keyLength);
}

const RETRYABLE = new Set([408, 429, 500, 502, 503, 504]);

export class MlflowClient {
  readonly baseUrl: string;
  private readonly headers: Record<string, string>;
  private readonly maxRetries: number;
  private readonly backoffFactor: number;
  private readonly backoffJitter: number;
  private readonly timeoutMs: number;
  private readonly sleep: (ms: number) => Promise<void>;
  /** What was cut to fit the server's limits; the caller reports it. */
  readonly truncations: string[] = [];

  constructor(options: ClientOptions) {
    this.baseUrl = options.trackingUri.replace(/\/+$/, '');
    if (!/^https?:\/\//.test(this.baseUrl)) throw new MlflowValidationError(`tracking URI "${options.trackingUri}" is not an http(s) URL; synthmix talks to an MLflow tracking server`);
    this.headers = { 'Content-Type': 'application/json' };
    if (options.token) this.headers.Authorization = `Bearer ${options.token}`;
    else if (options.username !== undefined && options.password !== undefined) this.headers.Authorization = `Basic ${Buffer.from(`${options.username}:${options.password}`).toString('base64')}`;
    // Defaults of the Python client (mlflow.environment_variables).
    this.maxRetries = options.maxRetries ?? 7;
    this.backoffFactor = options.backoffFactor ?? 2;
    this.backoffJitter = options.backoffJitter ?? 1;
    this.timeoutMs = (options.timeoutSeconds ?? 120) * 1000;
    this.sleep = options.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  private delay(attempt: number, retryAfter: string | null): number {
    const seconds = retryAfter !== null && retryAfter !== '' && !Number.isNaN(Number(retryAfter)) ? Number(retryAfter) : undefined;
    if (seconds !== undefined) return seconds * 1000;
    const date = retryAfter ? Date.parse(retryAfter) : NaN;
    if (!Number.isNaN(date)) return Math.max(0, date - Date.now());
    return (this.backoffFactor * 2 ** attempt + Math.random() * this.backoffJitter) * 1000;
  }

  /**
   * One HTTP call. `retry: false` for calls that must not be repeated blindly (creates): they
   * are tried once and the caller decides how to recover.
   */
  async request<T>(method: 'GET' | 'POST' | 'PUT' | 'DELETE', endpoint: string, body?: unknown, opts: { retry?: boolean; raw?: Buffer; contentType?: string; query?: Record<string, string> } = {}): Promise<T> {
    const url = new URL(`${this.baseUrl}${endpoint}`);
    for (const [k, v] of Object.entries(opts.query ?? {})) url.searchParams.set(k, v);
    const retries = opts.retry === false ? 0 : this.maxRetries;
    let lastError: unknown;
    for (let attempt = 0; attempt <= retries; attempt++) {
      let response: Response;
      try {
        response = await fetch(url, {
          method,
          headers: opts.raw ? { ...this.headers, 'Content-Type': opts.contentType ?? 'application/octet-stream' } : this.headers,
          body: opts.raw ? new Uint8Array(opts.raw) : body === undefined ? undefined : JSON.stringify(body),
          signal: AbortSignal.timeout(this.timeoutMs),
        });
      } catch (err) {
        lastError = err;
        if (attempt < retries) await this.sleep(this.delay(attempt, null));
        continue;
      }
      if (response.ok) {
        const text = await response.text();
        return (text ? JSON.parse(text) : {}) as T;
      }
      const text = await response.text();
      let code: string | undefined;
      let message = text;
      try {
        const parsed = JSON.parse(text) as { error_code?: string; message?: string };
        code = parsed.error_code;
        message = parsed.message ?? text;
      } catch { /* not JSON */ }
      const error = new MlflowHttpError(response.status, code, `${method} ${endpoint}: ${response.status} ${code ?? ''} ${message}`.replace(/\s+/g, ' ').trim());
      if (!RETRYABLE.has(response.status) || attempt >= retries) throw error;
      lastError = error;
      await this.sleep(this.delay(attempt, response.headers.get('retry-after')));
    }
    if (lastError instanceof MlflowHttpError) throw lastError;
    throw new MlflowUnreachableError(this.baseUrl, (lastError as { cause?: unknown })?.cause ?? lastError);
  }

  async health(): Promise<boolean> {
    try {
      const r = await fetch(`${this.baseUrl}/health`, { headers: this.headers, signal: AbortSignal.timeout(5000) });
      return r.ok;
    } catch {
      return false;
    }
  }

  // --- experiments ------------------------------------------------------------------------

  async getExperimentByName(name: string): Promise<Experiment | undefined> {
    try {
      const r = await this.request<{ experiment: Experiment }>('GET', '/api/2.0/mlflow/experiments/get-by-name', undefined, { query: { experiment_name: name } });
      return r.experiment;
    } catch (err) {
      if (err instanceof MlflowHttpError && err.code === 'RESOURCE_DOES_NOT_EXIST') return undefined;
      throw err;
    }
  }

  /** Gets or creates; a create that races with another client resolves to the winner. */
  async ensureExperiment(name: string): Promise<string> {
    const existing = await this.getExperimentByName(name);
    if (existing) return existing.experiment_id;
    try {
      const r = await this.request<{ experiment_id: string }>('POST', '/api/2.0/mlflow/experiments/create', { name }, { retry: false });
      return r.experiment_id;
    } catch (err) {
      const again = await this.getExperimentByName(name);
      if (again) return again.experiment_id;
      throw err;
    }
  }

  // --- runs -------------------------------------------------------------------------------

  /**
   * Creates a run. The request carries a unique `synthmix.request_id` tag; after a failure whose
   * outcome is unknown (timeout, connection reset) the run is looked up by that tag before any
   * retry, so a retry never makes a duplicate run.
   */
  async createRun(args: { experimentId: string; runName: string; tags?: Record<string, string>; startTime?: number }): Promise<RunInfo> {
    const requestId = randomUUID();
    const tags = Object.entries({ ...args.tags, 'synthmix.request_id': requestId, 'mlflow.runName': args.runName }).map(([key, value]) => {
      validateKey(key, 'tag');
      return { key, value: this.fit(value, LIMITS.tagValueLength, `tag ${key}`) };
    });
    const body = { experiment_id: args.experimentId, run_name: args.runName, start_time: args.startTime ?? Date.now(), tags };
    for (let attempt = 0; ; attempt++) {
      try {
        const r = await this.request<{ run: Run }>('POST', '/api/2.0/mlflow/runs/create', body, { retry: false });
        return r.run.info;
      } catch (err) {
        if (err instanceof MlflowHttpError && !RETRYABLE.has(err.status)) throw err;
        if (attempt >= this.maxRetries) throw err instanceof MlflowHttpError ? err : new MlflowUnreachableError(this.baseUrl, err);
        await this.sleep(this.delay(attempt, null));
        // Created before the reply was lost? A failed look-up is not a "no": it throws, and the
        // caller retries the whole create later rather than risk a second run.
        const found = await this.searchRuns([args.experimentId], `tags.\`synthmix.request_id\` = '${requestId}'`);
        if (found[0]) return found[0].info;
      }
    }
  }

  async deleteRun(runId: string): Promise<void> {
    await this.request('POST', '/api/2.0/mlflow/runs/delete', { run_id: runId });
  }

  async getRun(runId: string): Promise<Run> {
    return (await this.request<{ run: Run }>('GET', '/api/2.0/mlflow/runs/get', undefined, { query: { run_id: runId } })).run;
  }

  async searchRuns(experimentIds: string[], filter: string, maxResults = 1000, view: 'ACTIVE_ONLY' | 'DELETED_ONLY' | 'ALL' = 'ACTIVE_ONLY'): Promise<Run[]> {
    const runs: Run[] = [];
    let pageToken: string | undefined;
    do {
      const r = await this.request<{ runs?: Run[]; next_page_token?: string }>('POST', '/api/2.0/mlflow/runs/search', { experiment_ids: experimentIds, filter, max_results: Math.min(maxResults, 1000), page_token: pageToken, run_view_type: view });
      runs.push(...(r.runs ?? []));
      pageToken = r.next_page_token;
    } while (pageToken && runs.length < maxResults);
    return runs;
  }

  async updateRun(runId: string, status: RunStatus, endTime?: number): Promise<void> {
    await this.request('POST', '/api/2.0/mlflow/runs/update', { run_id: runId, status, ...(status === 'RUNNING' ? {} : { end_time: endTime ?? Date.now() }) });
  }

  private fit(value: string, max: number, what: string): string {
    if (value.length <= max) return value;
    this.truncations.push(`${what}: ${value.length} characters cut to ${max}`);
    return value.slice(0, max);
  }

  /** Validates and chunks to the server's limits (1,000 metrics, 100 params, 100 tags, 1,000 in all, 1 MB). */
  async logBatch(runId: string, batch: { metrics?: Metric[]; params?: Param[]; tags?: Tag[] }): Promise<void> {
    const metrics = (batch.metrics ?? []).map((m) => {
      validateKey(m.key, 'metric');
      // Spooled JSON keeps NaN and ±Infinity as strings (JSON has no such numbers).
      const value = typeof m.value === 'string' && NON_FINITE.has(m.value) ? Number(m.value) : m.value;
      if (typeof value !== 'number') throw new MlflowValidationError(`metric ${m.key}: value must be a number, found ${value === null ? 'null' : typeof value}`);
      if (!Number.isInteger(m.step)) throw new MlflowValidationError(`metric ${m.key}: step must be a whole number, found ${m.step}`);
      // JSON has no NaN/Infinity; MLflow's protobuf JSON accepts them as strings.
      return { ...m, value: Number.isFinite(value) ? value : (String(value) as unknown as number) };
    });
    const params = (batch.params ?? []).map((p) => {
      validateKey(p.key, 'param');
      return { key: p.key, value: this.fit(String(p.value), LIMITS.paramValueLength, `param ${p.key}`) };
    });
    const tags = (batch.tags ?? []).map((t) => {
      validateKey(t.key, 'tag');
      return { key: t.key, value: this.fit(String(t.value), LIMITS.tagValueLength, `tag ${t.key}`) };
    });
    const dupes = params.map((p) => p.key).filter((k, i, a) => a.indexOf(k) !== i);
    if (dupes.length) throw new MlflowValidationError(`param ${dupes[0]} is logged twice in one batch; MLflow params are written once`);
    let m = 0;
    let p = 0;
    let t = 0;
    while (m < metrics.length || p < params.length || t < tags.length) {
      // The server also caps the total of metrics + params + tags in one request at 1,000.
      const chunkParams = params.slice(p, p + LIMITS.paramsPerBatch);
      const chunkTags = tags.slice(t, t + LIMITS.tagsPerBatch);
      const room = LIMITS.entitiesPerBatch - chunkParams.length - chunkTags.length;
      const chunk = { run_id: runId, metrics: metrics.slice(m, m + Math.min(room, LIMITS.metricsPerBatch)), params: chunkParams, tags: chunkTags };
      // Params up to 6,000 characters × 100 can pass 1 MB: halve the params until it fits.
      while (Buffer.byteLength(JSON.stringify(chunk)) > LIMITS.batchBytes && chunk.params.length > 1) chunk.params = chunk.params.slice(0, Math.ceil(chunk.params.length / 2));
      while (Buffer.byteLength(JSON.stringify(chunk)) > LIMITS.batchBytes && chunk.metrics.length > 1) chunk.metrics = chunk.metrics.slice(0, Math.ceil(chunk.metrics.length / 2));
      await this.request('POST', '/api/2.0/mlflow/runs/log-batch', chunk);
      m += chunk.metrics.length;
      p += chunk.params.length;
      t += chunk.tags.length;
    }
  }

  async logInputs(runId: string, datasets: { name: string; digest: string; source: string; sourceType?: string; context?: string }[]): Promise<void> {
    await this.request('POST', '/api/2.0/mlflow/runs/log-inputs', {
      run_id: runId,
      datasets: datasets.map((d) => ({
        dataset: { name: d.name, digest: d.digest.slice(0, 36), source_type: d.sourceType ?? 'local', source: JSON.stringify({ uri: d.source }) },
        tags: d.context ? [{ key: 'mlflow.data.context', value: d.context }] : [],
      })),
    });
  }

  async getMetricHistory(runId: string, key: string): Promise<Metric[]> {
    const r = await this.request<{ metrics?: Metric[] }>('GET', '/api/2.0/mlflow/metrics/get-history', undefined, { query: { run_id: runId, metric_key: key, max_results: '25000' } });
    return r.metrics ?? [];
  }

  // --- artifacts (through the server's artifact proxy, `mlflow server --serve-artifacts`) ---

  private artifactBase(run: RunInfo): string {
    const m = run.artifact_uri.match(/^mlflow-artifacts:(?:\/\/[^/]*)?\/(.*)$/);
    if (!m) throw new MlflowValidationError(`run ${run.run_id} stores artifacts at ${run.artifact_uri}; synthmix uploads through the server's artifact proxy (start the server with --serve-artifacts, the default)`);
    return m[1].replace(/\/+$/, '');
  }

  /** Uploads one file as `<artifactDir>/<basename>`. PUT is idempotent, so it is retried. */
  async logArtifact(run: RunInfo, localFile: string, artifactDir = ''): Promise<string> {
    const name = path.basename(localFile);
    const rel = [artifactDir, name].filter(Boolean).join('/');
    // An artifact path names a place inside the run's artifacts: never above it.
    if (rel.split('/').some((p) => p === '..' || p === '.') || rel.startsWith('/')) throw new MlflowValidationError(`artifact path "${rel}" must stay inside the run's artifacts (no "." or ".." segments)`);
    const endpoint = `/api/2.0/mlflow-artifacts/artifacts/${this.artifactBase(run)}/${rel.split('/').map(encodeURIComponent).join('/')}`;
    await this.request('PUT', endpoint, undefined, { raw: fs.readFileSync(localFile) });
    return rel;
  }

  /** Uploads a folder recursively under `artifactDir`. */
  async logArtifacts(run: RunInfo, localDir: string, artifactDir = ''): Promise<string[]> {
    const out: string[] = [];
    for (const entry of fs.readdirSync(localDir, { withFileTypes: true })) {
      const full = path.join(localDir, entry.name);
      const dest = [artifactDir, entry.name].filter(Boolean).join('/');
      if (entry.isDirectory()) out.push(...(await this.logArtifacts(run, full, dest)));
      else out.push(await this.logArtifact(run, full, artifactDir));
    }
    return out;
  }

  async listArtifacts(run: RunInfo, dir = ''): Promise<{ path: string; is_dir: boolean; file_size?: number }[]> {
    const r = await this.request<{ files?: { path: string; is_dir: boolean; file_size?: number }[] }>('GET', '/api/2.0/mlflow-artifacts/artifacts', undefined, { query: { path: [this.artifactBase(run), dir].filter(Boolean).join('/') } });
    return (r.files ?? []).map((f) => ({ ...f, path: [dir, f.path].filter(Boolean).join('/') }));
  }

  async downloadArtifact(run: RunInfo, rel: string): Promise<Buffer> {
    const url = `${this.baseUrl}/api/2.0/mlflow-artifacts/artifacts/${this.artifactBase(run)}/${rel.split('/').map(encodeURIComponent).join('/')}`;
    const r = await fetch(url, { headers: this.headers });
    if (!r.ok) throw new MlflowHttpError(r.status, undefined, `GET ${rel}: ${r.status}`);
    return Buffer.from(await r.arrayBuffer());
  }
}
