/**
 * Logs a sweep's events to MLflow: the sweep is a parent run, each generator and each cell a
 * child run. Every call goes through an on-disk spool first, so a server that drops mid-sweep
 * loses nothing: training goes on, and the spool is replayed when the server is back (by the
 * tracker itself, or later by `synthmix sync`).
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { appendLine, designX, isDamagedFileError, modeOf, sizePerClass, readJsonFile, readJsonLines, sweepLayout, writeJsonAtomic, type CellResult, type RefusedRecord, type ResolvedPlan, type SweepEvent, type SweepTracker } from '@synthmix/core';
import { MlflowClient, MlflowHttpError, MlflowUnreachableError, sanitizeKey, type Metric, type Param, type RunInfo, type RunStatus, type Tag } from './client.js';

export const SYNTHMIX_VERSION = '0.1.0';

/** One spooled call. Runs are named by logical keys; their MLflow ids are resolved when applied. */
export type SpoolOp =
  | { seq: number; op: 'start-run'; key: string; name: string; parent?: string; tags: Record<string, string>; params: Record<string, string>; dataset?: { name: string; digest: string; source: string; context: string }; /** The cell runs again in this session: its earlier run (even a finished one) is replaced. */ fresh?: boolean }
  | { seq: number; op: 'log'; key: string; metrics: Metric[]; params: Param[]; tags: Tag[] }
  | { seq: number; op: 'artifact'; key: string; file: string; dir: string }
  | { seq: number; op: 'end-run'; key: string; status: RunStatus; tags?: Record<string, string> }
  | { seq: number; op: 'inputs'; key: string; dataset: { name: string; digest: string; source: string; context: string } };
type NewOp = SpoolOp extends infer O ? (O extends SpoolOp ? Omit<O, 'seq'> : never) : never;

/** What one server knows of this sweep: its run ids and how far the spool has been applied there. */
interface SpoolState {
  experimentName: string;
  experimentId?: string;
  appliedSeq: number;
  runs: Record<string, RunInfo>;
  /** Keys whose run was already FINISHED when this session attached: their later ops are skipped. */
  complete: string[];
  /** Ops the server refused (bad values); kept for the record, not retried. */
  rejected: { seq: number; error: string }[];
}

/** state.json: one {@link SpoolState} per server and experiment, so a second server gets everything. */
interface SpoolStateFile {
  version: 2;
  servers: Record<string, SpoolState>;
}

/** An MLflow call the server refused for good, with where and why. */
export type RefusedCall = RefusedRecord;

export interface TrackerOptions {
  /** No client: calls are only spooled, for `synthmix sync` to replay later. */
  client?: MlflowClient;
  /** The sweep's output folder; the spool lives in `<dir>/mlflow/`. */
  outputDir: string;
  experimentName: string;
  /** Told about connection loss and recovery, and about refused calls. */
  onNotice?: (message: string) => void;
  /** Longest wait between reconnection attempts while the server is down. */
  maxOfflineDelayMs?: number;
}

export function spoolPaths(outputDir: string) {
  const dir = sweepLayout(outputDir).mlflowDir;
  return { dir, ops: path.join(dir, 'spool.jsonl'), state: path.join(dir, 'state.json') };
}

/** Flattens nested objects to dotted keys (`generator.options.epochs`). */
export function flatten(value: unknown, prefix = '', out: Record<string, string> = {}): Record<string, string> {
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) flatten(v, prefix ? `${prefix}.${k}` : k, out);
  } else if (value !== undefined) {
    out[sanitizeKey(prefix)] = typeof value === 'string' ? value : JSON.stringify(value);
  }
  return out;
}

function gitCommit(cwd: string): string | undefined {
  try {
    return execFileSync('git', ['rev-parse', 'HEAD'], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

export class MlflowTracker implements SweepTracker {
  private readonly paths: ReturnType<typeof spoolPaths>;
  private state: SpoolState;
  private queue: SpoolOp[] = [];
  private nextSeq: number;
  private working: Promise<void> | undefined;
  private offline = false;
  private closing = false;
  private sweepKey = '';

  /** Key of the server and experiment this tracker logs to, in state.json. */
  private readonly serverKey: string;
  private stateFile: SpoolStateFile;
  /** Refused calls of this session. */
  readonly refused: RefusedCall[] = [];
  private repaired = false;
  private spoolBroken = false;

  constructor(private readonly options: TrackerOptions) {
    this.paths = spoolPaths(options.outputDir);
    fs.mkdirSync(this.paths.dir, { recursive: true });
    this.serverKey = `${options.client?.baseUrl ?? 'spool-only'} ${options.experimentName}`;
    let saved: Partial<SpoolStateFile> | undefined;
    try {
      saved = fs.existsSync(this.paths.state) ? readJsonFile<Partial<SpoolStateFile>>(this.paths.state) : undefined;
    } catch (err) {
      // A damaged state only costs a replay: runs are found again by their run key.
      if (!isDamagedFileError(err)) throw err;
      options.onNotice?.(`${err.message}; replaying the whole spool (runs are found again by their key)`);
    }
    // A state file of an older synthmix kept run ids without their server: start afresh; runs
    // already on the server are found again by their run key.
    this.stateFile = saved?.version === 2 && saved.servers ? (saved as SpoolStateFile) : { version: 2, servers: {} };
    this.state = this.stateFile.servers[this.serverKey] ??= this.freshState();
    const spooled = this.readSpool();
    // Leftovers of an earlier session (or everything, for a server that has not seen this sweep) go first.
    this.queue = spooled.filter((o) => o.seq > this.state.appliedSeq);
    this.nextSeq = spooled.reduce((m, o) => Math.max(m, o.seq), this.state.appliedSeq) + 1;
    this.state.complete = [];
  }

  private freshState(): SpoolState {
    return { experimentName: this.options.experimentName, appliedSeq: 0, runs: {}, complete: [], rejected: [] };
  }

  private readSpool(): SpoolOp[] {
    // A last line torn by a crash or a full disk is dropped: its event is replayed from the run itself.
    return readJsonLines<SpoolOp>(this.paths.ops);
  }

  /**
   * The server has lost what this sweep logged there (its store was replaced or deleted): forget
   * its run ids and log everything recorded locally again, once.
   */
  private repair(reason: string): boolean {
    if (this.repaired) return false;
    this.repaired = true;
    this.state = this.stateFile.servers[this.serverKey] = this.freshState();
    const spooled = this.readSpool();
    const queued = new Set(this.queue.map((o) => o.seq));
    this.queue = [...spooled.filter((o) => !queued.has(o.seq)), ...this.queue].sort((a, b) => a.seq - b.seq);
    this.options.onNotice?.(`MLflow at ${this.options.client!.baseUrl} does not have this sweep's runs (${reason}); logging everything recorded in ${this.paths.ops} again`);
    this.saveState();
    return true;
  }

  /** Calls not yet applied on the server. */
  get pending(): number {
    return this.queue.length;
  }

  get runIds(): Record<string, string> {
    return Object.fromEntries(Object.entries(this.state.runs).map(([k, r]) => [k, r.run_id]));
  }

  get experimentId(): string | undefined {
    return this.state.experimentId;
  }

  /** Runs started and not yet ended in this session. */
  private readonly open = new Set<string>();

  private enqueue(op: NewOp): void {
    if (op.op === 'start-run') this.open.add(op.key);
    if (op.op === 'end-run') this.open.delete(op.key);
    const full = { ...op, seq: this.nextSeq++ } as SpoolOp;
    // NaN (an undefined metric) must survive the trip through JSON.
    try {
      appendLine(this.paths.ops, JSON.stringify(full, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v)));
    } catch (err) {
      // A full disk must not stop training: the call still goes to the server from memory.
      if (!this.spoolBroken) this.options.onNotice?.(`cannot write the MLflow spool ${this.paths.ops} (${(err as Error).message}); calls from here on are sent but not spooled`);
      this.spoolBroken = true;
    }
    this.queue.push(full);
    this.kick();
  }

  private kick(): void {
    if (!this.options.client) return;
    if (!this.working) this.working = this.work().finally(() => {
      this.working = undefined;
      if (this.queue.length && !this.closing) this.kick();
    });
  }

  private saveState(): void {
    this.stateFile.servers[this.serverKey] = this.state;
    try {
      writeJsonAtomic(this.paths.state, this.stateFile, 1);
    } catch (err) {
      // Without the state a later session replays more, and replays are idempotent: nothing is lost.
      if (!this.spoolBroken) this.options.onNotice?.(`cannot write ${this.paths.state}: ${(err as Error).message}`);
      this.spoolBroken = true;
    }
  }

  private async work(): Promise<void> {
    let delay = 500;
    let single = false;
    while (this.queue.length) {
      // After flush() gave up, the spool belongs to `synthmix sync`: a second writer would race it.
      if (this.closing) return;
      // Consecutive logs to one run go in one batch (the client chunks to the server's limits).
      const first = this.queue[0];
      let take = 1;
      if (first.op === 'log' && !single) while (take < this.queue.length && take < 200 && this.queue[take].op === 'log' && this.queue[take].key === first.key) take++;
      const ops = this.queue.slice(0, take);
      try {
        await this.apply(ops);
        if (this.offline) {
          this.offline = false;
          this.options.onNotice?.(`MLflow is reachable again; replaying ${this.queue.length} spooled call(s)`);
        }
        delay = 500;
      } catch (err) {
        if (err instanceof MlflowUnreachableError || (err instanceof MlflowHttpError && err.status >= 500)) {
          if (!this.offline) {
            this.offline = true;
            this.options.onNotice?.(`MLflow unreachable (${err.message}); training goes on and calls are spooled to ${this.paths.ops}`);
          }
          if (this.closing) return;
          await new Promise((r) => setTimeout(r, delay));
          delay = Math.min(delay * 2, this.options.maxOfflineDelayMs ?? 10_000);
          continue;
        }
        if (err instanceof MlflowHttpError && err.code === 'RESOURCE_DOES_NOT_EXIST' && this.repair(err.message)) {
          single = false;
          continue;
        }
        if (take > 1) {
          // One bad value must not sink a whole batch: apply its calls one by one.
          single = true;
          continue;
        }
        // A refused call (bad value, conflicting param) will never succeed: record it and go on.
        const message = (err as Error).message;
        this.state.rejected.push(...ops.map((o) => ({ seq: o.seq, error: message })));
        this.refused.push({ server: this.options.client!.baseUrl, op: first.op, run: first.key, error: message });
        this.options.onNotice?.(`MLflow refused ${first.op} for ${first.key}: ${message}`);
      }
      this.queue.splice(0, take);
      single = false;
      this.state.appliedSeq = ops[ops.length - 1].seq;
      this.saveState();
    }
  }

  private async experiment(): Promise<string> {
    this.state.experimentId ??= await this.options.client!.ensureExperiment(this.state.experimentName);
    return this.state.experimentId;
  }

  private async apply(ops: SpoolOp[]): Promise<void> {
    const client = this.options.client!;
    const op = ops[0];
    if (this.state.complete.includes(op.key) && op.op !== 'start-run') return;
    const run = this.state.runs[op.key];
    if (op.op !== 'start-run' && !run) throw new Error(`no run started for ${op.key}`);
    switch (op.op) {
      case 'start-run': {
        const experimentId = await this.experiment();
        // Attach to the run of an earlier attempt instead of creating a duplicate.
        const found = this.state.runs[op.key] ? [await client.getRun(this.state.runs[op.key].run_id)] : await client.searchRuns([experimentId], `tags.\`synthmix.run_key\` = '${op.key}'`);
        // A run this very op made already (its reply was lost, or a later call of the op failed) is
        // attached to, never replaced: replaying an op must not delete what it created.
        const ours = found.find((r) => r.data.tags?.some((t) => t.key === 'synthmix.spool_seq' && t.value === String(op.seq)));
        let info: RunInfo | undefined = (ours ?? found[0])?.info;
        if (!ours && info && op.fresh && op.key.includes(':cell:')) {
          // The cell runs again (a retry, --fresh): its earlier run, finished or not, is replaced.
          await client.deleteRun(info.run_id);
          info = undefined;
          this.state.complete = this.state.complete.filter((k) => k !== op.key);
        }
        if (!ours && info?.status === 'FINISHED' && op.key !== this.sweepKeyOf(op.key)) {
          this.state.runs[op.key] = info;
          this.state.complete.push(op.key);
          return;
        }
        if (!ours && info && op.key.includes(':cell:')) {
          // An interrupted cell restarts from scratch, so its half-logged run goes too.
          await client.deleteRun(info.run_id);
          info = undefined;
        }
        const tags = { ...op.tags, 'synthmix.run_key': op.key, 'synthmix.spool_seq': String(op.seq), ...(op.parent ? { 'mlflow.parentRunId': this.state.runs[op.parent]?.run_id ?? '' } : {}) };
        if (!info) info = await client.createRun({ experimentId, runName: op.name, tags });
        else if (info.status !== 'RUNNING') await client.updateRun(info.run_id, 'RUNNING');
        this.state.runs[op.key] = info;
        await client.logBatch(info.run_id, { params: Object.entries(op.params).map(([key, value]) => ({ key, value })), tags: Object.entries(tags).map(([key, value]) => ({ key, value })) });
        if (op.dataset?.digest) await client.logInputs(info.run_id, [op.dataset]);
        return;
      }
      case 'log': {
        const logs = ops as Extract<SpoolOp, { op: 'log' }>[];
        await client.logBatch(run.run_id, { metrics: logs.flatMap((o) => o.metrics), params: logs.flatMap((o) => o.params), tags: logs.flatMap((o) => o.tags) });
        return;
      }
      case 'artifact':
        if (fs.existsSync(op.file)) {
          if (fs.statSync(op.file).isDirectory()) await client.logArtifacts(run, op.file, op.dir);
          else await client.logArtifact(run, op.file, op.dir);
        }
        return;
      case 'inputs':
        await client.logInputs(run.run_id, [op.dataset]);
        return;
      case 'end-run':
        if (op.tags) await client.logBatch(run.run_id, { tags: Object.entries(op.tags).map(([key, value]) => ({ key, value })) });
        await client.updateRun(run.run_id, op.status);
        return;
    }
  }

  private sweepKeyOf(key: string): string {
    return key.split(':')[0];
  }

  // --- events → spooled calls -------------------------------------------------------------

  private cellKey = (id: string) => `${this.sweepKey}:cell:${id}`;
  /** A seed's generator, or a size's own (`generator-seed1-real200`), which has a run of its own. */
  private generatorKey = (seed: number, id?: string) => (id ? `${this.sweepKey}:generator:${id}` : `${this.sweepKey}:generator:${seed}`);
  private scopeKey(scope: Extract<SweepEvent, { type: 'metric' }>['scope']): string {
    return scope.kind === 'sweep' ? this.sweepKey : scope.kind === 'generator' ? this.generatorKey(scope.seed, scope.generator) : this.cellKey(scope.cellId);
  }

  handle(event: SweepEvent): void {
    switch (event.type) {
      case 'sweep:start':
        this.startSweep(event.plan, event);
        return;
      case 'data:loaded':
        this.fingerprint = event.fingerprint;
        this.enqueue({ op: 'log', key: this.sweepKey, metrics: [], params: [], tags: [{ key: 'synthmix.dataset_fingerprint', value: event.fingerprint }] });
        this.enqueue({ op: 'inputs', key: this.sweepKey, dataset: this.datasetInput('all') });
        this.enqueue({ op: 'artifact', key: this.sweepKey, file: event.reportFile, dir: '' });
        return;
      case 'generator:start':
        this.enqueue({ op: 'start-run', key: this.generatorKey(event.seed, event.generator), name: event.generator ?? `generator-seed${event.seed}`, parent: this.sweepKey, tags: { 'synthmix.plugin': event.plugin, 'synthmix.state_key': event.stateKey, 'synthmix.cached': String(event.cached), 'mlflow.note.content': `Generator ${event.plugin}, seed ${event.seed}${event.cached ? ' (state reused from the cache)' : ''}` }, params: { ...this.generatorParams, seed: String(event.seed), ...(event.realPerClass === undefined ? {} : { real_per_class: String(event.realPerClass) }) } });
        return;
      case 'generator:done':
        this.enqueue({ op: 'end-run', key: this.generatorKey(event.seed, event.generator), status: 'FINISHED' });
        return;
      case 'quality:warning': {
        // A tag on the generator's run and on the sweep's, so nobody reads the curve unwarned.
        const tags = [{ key: 'synthmix.quality_warning', value: event.message }];
        this.enqueue({ op: 'log', key: this.generatorKey(event.seed, event.generator), metrics: [], params: [], tags });
        this.enqueue({ op: 'log', key: this.sweepKey, metrics: [], params: [], tags });
        return;
      }
      case 'generator:failed':
        this.enqueue({ op: 'end-run', key: this.generatorKey(event.seed, event.generator), status: 'FAILED', tags: { 'synthmix.error': event.error, 'mlflow.note.content': `Failed: ${event.error}` } });
        return;
      case 'metric':
        this.enqueue({ op: 'log', key: this.scopeKey(event.scope), metrics: [{ key: sanitizeKey(event.name), value: event.value, timestamp: event.time, step: event.step }], params: [], tags: [] });
        return;
      case 'artifact':
        // The plugin says where its artifact goes (`samples/tumor`); the tracker does not guess.
        this.enqueue({ op: 'artifact', key: this.scopeKey(event.scope), file: event.path, dir: event.folder ?? '' });
        return;
      case 'cell:start':
        this.startCell(event.cell, true);
        return;
      case 'cell:done': {
        const key = this.cellKey(event.result.cell.id);
        if (event.cached) {
          // A cell finished in an earlier session: make sure its run is complete (it is skipped if so).
          this.startCell(event.result.cell);
          this.enqueue({ op: 'log', key, metrics: Object.entries(event.result.metrics).map(([k, v]) => ({ key: sanitizeKey(`test_${k}`), value: v, timestamp: event.time, step: 0 })), params: [], tags: [] });
        }
        this.enqueue({ op: 'artifact', key, file: sweepLayout(this.plan?.outputDir ?? path.dirname(path.dirname(path.dirname(event.result.files.predictions)))).cellResult(event.result.cell.id), dir: '' });
        if (!event.cached) this.enqueue({ op: 'artifact', key, file: event.result.files.predictions, dir: '' });
        if (event.result.files.model) this.enqueue({ op: 'artifact', key, file: event.result.files.model, dir: 'model' });
        this.enqueue({ op: 'end-run', key, status: 'FINISHED' });
        return;
      }
      case 'cell:failed':
        this.enqueue({ op: 'end-run', key: this.cellKey(event.cellId), status: 'FAILED', tags: { 'synthmix.error': event.error, 'mlflow.note.content': `Failed: ${event.error}` } });
        return;
      case 'compile:chosen':
        // On the run whose steps took it: which path, and what was measured (ms a step).
        this.enqueue({ op: 'log', key: this.scopeKey(event.scope), metrics: [], params: [], tags: [{ key: sanitizeKey(`synthmix.compile.${event.choice.step.replace(/ /g, '_')}`), value: `${event.choice.path} [${event.choice.shape}] ${JSON.stringify(event.choice.msPerStep)}` }] });
        return;
      case 'sweep:done':
        this.endSweep(event);
        return;
      default:
    }
  }

  private generatorParams: Record<string, string> = {};
  private fingerprint = '';

  /** The dataset as MLflow's log-inputs sees it: digest = the dataset fingerprint. */
  private datasetInput(context: string) {
    const plan = this.plan;
    return { name: plan?.dataset.path ? path.basename(plan.dataset.path) : 'phantom', digest: this.fingerprint.slice(0, 36), source: plan?.dataset.path ?? 'synthmix:phantom', context };
  }
  private plan?: ResolvedPlan;

  private startSweep(plan: ResolvedPlan, event: Extract<SweepEvent, { type: 'sweep:start' }>): void {
    this.plan = plan;
    // The same sweep run again attaches to its parent run; a changed manifest (other seeds,
    // --set overrides) gets a parent of its own, since MLflow params cannot change.
    this.sweepKey = `sweep-${createHash('sha256').update(`${plan.outputDir}\n${plan.name}\n${plan.manifestHash}`).digest('hex').slice(0, 16)}`;
    this.generatorParams = flatten(plan.generator.options, 'generator.options');
    const commit = gitCommit(path.dirname(plan.manifestFile));
    const params = {
      ...flatten(plan.manifest),
      'generator.plugin': plan.generator.plugin,
      'classifier.plugin': plan.classifier.plugin,
      cells: String(plan.cells.length),
    };
    this.enqueue({
      op: 'start-run', key: this.sweepKey, name: plan.name,
      tags: {
        'mlflow.note.content': `${plan.description || plan.name}\n\nRatio sweep: ${plan.ratios.length} synthetic fractions × ${plan.seeds.length} seed(s), ${plan.trainingSetSize} images per cell.`,
        'mlflow.user': os.userInfo().username,
        'mlflow.source.name': plan.manifestFile,
        ...(commit ? { 'mlflow.source.git.commit': commit } : {}),
        'synthmix.version': SYNTHMIX_VERSION,
        'synthmix.manifest_hash': plan.manifestHash,
        'synthmix.backend': event.backend.choice,
        'synthmix.tfjs_backend': event.backend.backendName,
        ...(event.backend.tensorflowVersion ? { 'synthmix.tensorflow_version': event.backend.tensorflowVersion } : {}),
      },
      params,
    });
    this.enqueue({ op: 'artifact', key: this.sweepKey, file: path.join(plan.outputDir, 'manifest.yaml'), dir: '' });
    this.enqueue({ op: 'artifact', key: this.sweepKey, file: path.join(plan.outputDir, 'plan.json'), dir: '' });
  }

  private startCell(cell: CellResult['cell'], fresh = false): void {
    const plan = this.plan;
    this.enqueue({
      op: 'start-run', key: this.cellKey(cell.id), name: cell.id, parent: this.sweepKey, fresh,
      tags: { 'mlflow.note.content': cell.mode === 'augment' ? `${cell.syntheticPerReal} synthetic per real image added, seed ${cell.seed}: ${cell.realPerClass} real images per class (${cell.valPerClass} of them for validation) + ${cell.syntheticPerClass} synthetic per class in training.` : `${Math.round((1 - cell.ratio) * 100)}:${Math.round(cell.ratio * 100)} real:synthetic, seed ${cell.seed}: ${cell.realPerClass} real + ${cell.syntheticPerClass} synthetic images per class, ${cell.trainPerClass}/${cell.valPerClass} train/validation per class.`, 'synthmix.classifier': plan?.classifier.plugin ?? '' },
      params: { ratio: String(cell.ratio), seed: String(cell.seed), ...(cell.mode ? { mode: cell.mode } : {}), ...(cell.trainingSetSize === undefined || !(cell.mode || cell.generator) ? {} : { training_set_size: String(cell.trainingSetSize) }), ...(cell.syntheticPerReal === undefined ? {} : { synthetic_per_real: String(cell.syntheticPerReal) }), ...(cell.generatorEpoch === undefined ? {} : { generator_epoch: String(cell.generatorEpoch) }), real_per_class: String(cell.realPerClass), synthetic_per_class: String(cell.syntheticPerClass), train_per_class: String(cell.trainPerClass), val_per_class: String(cell.valPerClass), ...flatten(plan?.classifier.options ?? {}, 'classifier.options') },
      dataset: this.datasetInput('training'),
    });
  }

  private endSweep(event: Extract<SweepEvent, { type: 'sweep:done' }>): void {
    // One curve per training-set size (one size: the keys of the single-size design).
    const byPoint = new Map<string, { perClass: number; x: number; mode: string; results: CellResult[] }>();
    for (const r of event.results.filter((x) => x.cell.generatorEpoch === undefined)) {
      const key = `${sizePerClass(r.cell)}|${designX(r.cell)}`;
      const point = byPoint.get(key) ?? { perClass: sizePerClass(r.cell), x: designX(r.cell), mode: modeOf(r.cell), results: [] };
      point.results.push(r);
      byPoint.set(key, point);
    }
    const manySizes = new Set([...byPoint.values()].map((p) => p.perClass)).size > 1;
    const metrics: Metric[] = [];
    const best = new Map<number, { x: number; accuracy: number }>();
    for (const { perClass, x, results } of [...byPoint.values()].sort((a, b) => a.perClass - b.perClass || a.x - b.x)) {
      const suffix = manySizes ? `_per_class_${perClass}` : '';
      for (const name of ['accuracy', 'f1', 'auc', 'recall', 'precision']) {
        const values = results.map((r) => r.metrics[name]).filter((v) => Number.isFinite(v));
        if (!values.length) continue;
        const mean = values.reduce((a, b) => a + b, 0) / values.length;
        // step = synthetic percentage (replace) or synthetic per real × 100 (augment), so MLflow's chart of a metric is the sweep's curve.
        metrics.push({ key: `sweep_${name}_mean${suffix}`, value: mean, timestamp: event.time, step: Math.round(x * 100) });
        const b = best.get(perClass);
        if (name === 'accuracy' && (!b || mean > b.accuracy)) best.set(perClass, { x, accuracy: mean });
      }
    }
    for (const [perClass, b] of best) {
      const suffix = manySizes ? `_per_class_${perClass}` : '';
      const augment = [...byPoint.values()].some((p) => p.mode === 'augment');
      metrics.push({ key: `${augment ? 'best_synthetic_per_real' : 'best_ratio'}${suffix}`, value: b.x, timestamp: event.time, step: 0 }, { key: `best_accuracy_mean${suffix}`, value: b.accuracy, timestamp: event.time, step: 0 });
    }
    this.enqueue({ op: 'log', key: this.sweepKey, metrics, params: [], tags: [] });
    this.enqueue({ op: 'artifact', key: this.sweepKey, file: path.join(event.outputDir, 'results.csv'), dir: '' });
    const status: RunStatus = event.status === 'finished' ? 'FINISHED' : event.status === 'interrupted' ? 'KILLED' : 'FAILED';
    // A cell or generator cut short by the interruption or failure ends with the sweep.
    for (const key of [...this.open]) if (key !== this.sweepKey) this.enqueue({ op: 'end-run', key, status: status === 'FINISHED' ? 'FAILED' : status });
    // The answer in words, where a person browsing MLflow looks first.
    const answer = event.answer ? { 'synthmix.answer': event.answer.sizes.map((s) => s.sentence).join('\n').slice(0, 7900), ...Object.fromEntries(event.answer.sizes.filter((s) => s.upTo).map((s) => [`synthmix.answer.per_class_${s.perClass}.largest_noninferior`, String(s.upTo!.x)])) } : {};
    const tags = { ...answer, ...(event.error ? { 'synthmix.error': event.error } : {}) };
    this.enqueue({ op: 'end-run', key: this.sweepKey, status, tags: Object.keys(tags).length ? tags : undefined });
  }

  /** Adds an artifact to a run after the sweep (the report to the parent, plots to cells). */
  logArtifactAfter(scope: Extract<SweepEvent, { type: 'metric' }>['scope'], file: string, dir = ''): void {
    if (fs.existsSync(file)) this.enqueue({ op: 'artifact', key: this.scopeKey(scope), file, dir });
  }

  /**
   * Waits until every call is applied: as long as calls keep being applied (a slow or flaky
   * server), up to `maxMs`, but no longer than `stallMs` without progress (a server that is down).
   * What is left stays in the spool for `synthmix sync`. Returns the number of calls left.
   */
  async flush(stallMs = 30_000, maxMs = 10 * 60_000): Promise<number> {
    if (!this.options.client) return this.queue.length;
    const deadline = Date.now() + maxMs;
    let left = this.queue.length;
    let progressAt = Date.now();
    this.kick();
    while (this.queue.length && Date.now() < deadline && Date.now() - progressAt < stallMs) {
      await new Promise((r) => setTimeout(r, 100));
      if (this.queue.length < left) {
        left = this.queue.length;
        progressAt = Date.now();
      }
    }
    if (this.queue.length) this.closing = true;
    await this.working;
    return this.queue.length;
  }
}
