/**
 * The sweep runner: resolved plan → the real data prepared once → a graph of jobs (a generator
 * per seed, a classifier per ratio × seed cell) run by an executor → typed events and files in
 * the sweep's output folder. The runner schedules, retries and records; what a job does is in
 * jobs.ts, and where it runs is the executor's business.
 */
import fs from 'node:fs';
import path from 'node:path';
import { appendLine, describeNoSpace, duplicateGroupsPng, imageGridPng, indicesByClass, isDamagedFileError, isNoSpaceError, isNoSpaceMessage, readJsonFile, subset, writeFileAtomic } from '@synthmix/data';
import { acquireLock, describeHolder } from './lock.js';
import { loadBackend, probeMachine, type LoadedBackend } from './backend.js';
import { dataProgressStep, type CellResult, type SweepEvent, type SweepEventInput } from './events.js';
import type { ResolvedPlan } from './manifest.js';
import { loadPlugin } from './plugins.js';
import { UserError } from './errors.js';
import { createExecutor, ExecutorUnavailableError, type Executor, type JobOutcome } from './executors/index.js';
import { generatorJobId, JobInterrupted, loadSweepData, planJobs, readSeedQuality, runJob, writeJsonAtomically, type JobDescription } from './jobs.js';
import { sweepLayout } from './layout.js';
import { answerSweep, type SweepAnswer } from './answer.js';
import { modeOf } from './design.js';

export { generatorKey, sampleCell, yieldToEventLoop, type ClassQuality } from './jobs.js';

export interface RunOptions {
  /** Receives every event, in order. */
  onEvent?: (event: SweepEvent) => void;
  /** Stops the sweep after the current unit of work; finished cells stay recorded. */
  signal?: AbortSignal;
  /** Content-addressed cache for datasets, generator states and synthetic pools. */
  cacheDir: string;
  /** Skip cells whose results are already in the output folder (default true). */
  resume?: boolean;
  /** Extra plugin short names (from project config). */
  pluginAliases?: Record<string, string>;
  /** An already loaded backend (tests); default: load the plan's. */
  backend?: LoadedBackend;
  /** Bootstrap resamples for confidence intervals (default 1000). */
  bootstrapResamples?: number;
  /** argv of `synthmix worker`, for executors that run jobs in other processes. */
  workerCommand?: string[];
  /** Environment of worker processes (default this process's). */
  workerEnv?: NodeJS.ProcessEnv;
  /** An executor to use instead of the one the plan names (tests). */
  executor?: Executor;
  /** Another process holds the output folder: queue behind it instead of refusing (`--wait`). */
  waitForLock?: boolean;
  /** Told when the sweep waits for the output folder's lock, or takes over a stale one. */
  onLockNotice?: (message: string) => void;
}

export interface SweepSummary {
  status: 'finished' | 'failed' | 'interrupted';
  results: CellResult[];
  failed: { cellId: string; error: string }[];
  outputDir: string;
  /** Why the sweep as a whole failed (e.g. the cluster went away), when it did. */
  error?: string;
  /** The answer in words, per training-set size (answer.ts). */
  answer?: SweepAnswer;
}

/** A cell's result.json; JSON stores an undefined metric (NaN) as null, so it is turned back. */
export function readCellResult(file: string): CellResult {
  const result = readJsonFile<CellResult>(file);
  for (const [k, v] of Object.entries(result.metrics)) if (v === null) result.metrics[k] = NaN;
  return result;
}

/** Events a job may report; the runner itself emits the rest (cell start, done, failed). */
const JOB_EVENT_TYPES = new Set<SweepEvent['type']>(['generator:start', 'generator:progress', 'generator:done', 'quality:warning', 'cell:progress', 'metric', 'artifact', 'warning', 'compile:measuring', 'compile:chosen']);

/**
 * Runs a sweep in its output folder, which it holds locked for its whole run: a second run on
 * the same folder refuses (LockHeldError, naming the holder) or queues (`waitForLock`).
 */
export async function runSweep(plan: ResolvedPlan, options: RunOptions): Promise<SweepSummary> {
  const files = sweepLayout(plan.outputDir);
  const lock = await acquireLock(files.lock, {
    wait: options.waitForLock,
    what: `the output folder ${plan.outputDir}`,
    signal: options.signal,
    onWait: (h) => options.onLockNotice?.(`waiting for the output folder ${plan.outputDir}: ${describeHolder(h)} is running in it`),
    onStale: (h) => options.onLockNotice?.(`took over the output folder ${plan.outputDir} from ${describeHolder(h)}, which is no longer running`),
  });
  try {
    return await runLocked(plan, options);
  } finally {
    lock.release();
  }
}

async function runLocked(plan: ResolvedPlan, options: RunOptions): Promise<SweepSummary> {
  const files = sweepLayout(plan.outputDir);
  fs.mkdirSync(files.cellsDir, { recursive: true });
  fs.mkdirSync(files.jobsDir, { recursive: true });
  // The event log is appended line by line; a full disk stops the log, not the sweep's accounting.
  let logBroken: unknown;
  const emit = (e: SweepEventInput) => {
    const event = { ...e, time: Date.now() } as SweepEvent;
    if (event.type !== 'sweep:start' && !logBroken) {
      try {
        appendLine(files.events, JSON.stringify(event));
      } catch (err) {
        logBroken = err;
      }
    }
    options.onEvent?.(event);
  };
  const signal = options.signal ?? new AbortController().signal;
  const results: CellResult[] = [];
  const failed: { cellId: string; error: string }[] = [];
  const resume = options.resume ?? true;
  let executor: Executor | undefined;
  try {
    writeFileAtomic(files.manifest, plan.manifestText);
    writeJsonAtomically(files.plan, { ...plan, manifestText: undefined });
    const backend = options.backend ?? (await loadBackend(plan.backend));
    // A result.json that does not read back (damaged after it was written) does not count as done.
    const damagedResults: string[] = [];
    const earlier = new Map<string, CellResult>();
    for (const c of resume ? plan.cells.filter((x) => fs.existsSync(files.cellResult(x.id))) : []) {
      try {
        earlier.set(c.id, readCellResult(files.cellResult(c.id)));
      } catch (err) {
        if (!isDamagedFileError(err)) throw err;
        damagedResults.push(err.message);
      }
    }
    const done = [...earlier.keys()];
    emit({ type: 'sweep:start', plan, backend: { ...backend.decision, backendName: backend.backendName, tensorflowVersion: backend.tensorflowVersion }, resumed: done });
    if (backend.decision.warning) emit({ type: 'warning', scope: { kind: 'sweep' }, message: backend.decision.warning });
    for (const message of damagedResults) emit({ type: 'warning', scope: { kind: 'sweep' }, message: `${message}; the cell runs again` });

    // Plugins load here first, so a missing one fails the sweep before any job starts.
    const manifestDir = path.dirname(plan.manifestFile);
    const generator = await loadPlugin(plan.generator.plugin, 'generator', manifestDir, options.pluginAliases);
    if (plan.generator.checkpoints && !generator.snapshots) throw new UserError(`generator.checkpoints: the generator "${generator.name}" cannot generate from earlier epochs (it does not declare \`snapshots\`); remove generator.checkpoints or use a plugin that keeps snapshots (dcgan, ddpm)`);
    await loadPlugin(plan.classifier.plugin, 'classifier', manifestDir, options.pluginAliases);

    // Progress while files are read and decoded (a large folder takes minutes cold): about a
    // hundred events per phase, not one per file; files finish one at a time, so `done` passes
    // every multiple of the step.
    const { data, realPool, testIds } = await loadSweepData(plan, options.cacheDir, ({ phase, done, total }) => {
      if (done % dataProgressStep(total) === 0 || done === total) emit({ type: 'data:progress', phase, done, total });
    });
    if (data.cacheRebuilt) emit({ type: 'warning', scope: { kind: 'sweep' }, message: `damaged cache entry: ${data.cacheRebuilt}` });
    writeJsonAtomically(files.dataReport, data.report);
    const duplicates = await duplicateGroupsPng(data.set, data.report.groups.largest);
    if (duplicates) {
      writeFileAtomic(files.duplicateGroups, duplicates);
      emit({ type: 'artifact', scope: { kind: 'sweep' }, path: files.duplicateGroups, description: 'largest near-duplicate groups' });
    }
    for (const group of data.report.groups.crossClass?.slice(0, 10) ?? []) emit({ type: 'warning', scope: { kind: 'sweep' }, message: `near-duplicate images in different classes (a possible label conflict): ${group.join(', ')}` });
    // One fixed real test set per sweep, chosen from the dataset fingerprint and the first seed.
    writeJsonAtomically(files.testSet, { fingerprint: data.fingerprint, seed: plan.seeds[0], leakageGuard: plan.dataset.leakageGuard, ids: testIds });
    emit({ type: 'data:loaded', fingerprint: data.fingerprint, counts: data.report.counts, skipped: data.report.skipped.length, groups: data.report.groups.count, testPerClass: plan.dataset.testPerClass, reportFile: files.dataReport, cached: data.cached });
    for (const s of data.report.skipped.slice(0, 20)) emit({ type: 'warning', scope: { kind: 'sweep' }, message: `skipped ${s.file}: ${s.reason}` });
    // Real samples per class, to set beside the generator's sample grids in the report.
    for (const [c, indices] of indicesByClass(realPool).entries()) {
      const file = files.realSamples(realPool.classNames[c]);
      writeFileAtomic(file, await imageGridPng(subset(realPool, indices.slice(0, 32)), 32, 8));
      emit({ type: 'artifact', scope: { kind: 'sweep' }, path: file, description: `real ${realPool.classNames[c]} samples` });
    }

    let index = 0;
    for (const cell of plan.cells.filter((c) => earlier.has(c.id))) {
      const result = earlier.get(cell.id)!;
      results.push(result);
      emit({ type: 'cell:done', result, cached: true });
      index++;
    }

    const execution = { ...plan.execution, cudaDevices: plan.execution.cudaDevices ?? (plan.execution.gpusPerJob > 0 ? probeMachine().cudaDevices.length : 0) };
    executor = options.executor ?? createExecutor({
      execution,
      workerCommand: options.workerCommand,
      env: options.workerEnv,
      runInline: async (job, hooks): Promise<JobOutcome> => {
        try {
          await runJob(job, { emit: hooks.onEvent, signal: hooks.signal, backend });
          return hooks.signal.aborted ? { status: 'interrupted' } : { status: 'succeeded' };
        } catch (err) {
          if (err instanceof JobInterrupted || hooks.signal.aborted) return { status: 'interrupted' };
          return { status: 'failed', error: (err as Error).message };
        }
      },
    });
    await executor.start();
    emit({ type: 'executor:ready', executor: executor.name, description: executor.description });

    const jobs = planJobs(plan, plan.cells.filter((c) => !done.includes(c.id)).map((c) => c.id), { cacheDir: options.cacheDir, pluginAliases: options.pluginAliases, bootstrapResamples: options.bootstrapResamples ?? 1000 });
    for (const job of jobs) writeJsonAtomically(files.jobFile(job.id), job);
    const outcome = await schedule(plan, jobs, executor, {
      signal,
      emit,
      onCellDone: (result) => results.push(result),
      onCellFailed: (cellId, error) => failed.push({ cellId, error }),
      startIndex: index,
    });
    mergeFrechet(plan, results);
    writeResultsCsv(files.results, plan, results);
    const answer = sweepAnswer(plan, results);
    if (answer) writeJsonAtomically(files.answer, answer);
    if (logBroken && !outcome.error) throw logBroken;
    if (outcome.interrupted || signal.aborted) {
      emit({ type: 'sweep:done', status: 'interrupted', results, outputDir: plan.outputDir, ...(answer ? { answer } : {}) });
      return { status: 'interrupted', results, failed, outputDir: plan.outputDir };
    }
    if (outcome.error) {
      emit({ type: 'sweep:done', status: 'failed', results, outputDir: plan.outputDir, error: outcome.error, ...(answer ? { answer } : {}) });
      return { status: 'failed', results, failed, outputDir: plan.outputDir, error: outcome.error };
    }
    const status = failed.length ? 'failed' : 'finished';
    const error = failed.length ? `${failed.length} cell(s) failed` : undefined;
    emit({ type: 'sweep:done', status, results, outputDir: plan.outputDir, error, ...(answer ? { answer } : {}) });
    return { status, results, failed, outputDir: plan.outputDir, error, ...(answer ? { answer } : {}) };
  } catch (err) {
    try {
      writeResultsCsv(files.results, plan, results);
    } catch (csvErr) {
      if (!isNoSpaceError(csvErr)) throw csvErr;
    }
    const interrupted = err instanceof JobInterrupted || signal.aborted;
    const noSpace = isNoSpaceError(err);
    const status = interrupted ? 'interrupted' : 'failed';
    // No room to write: one line saying where; the finished cells are kept for the rerun.
    const error = interrupted ? undefined : noSpace ? describeNoSpace(err) : (err as Error).message;
    emit({ type: 'sweep:done', status, results, outputDir: plan.outputDir, error });
    if (interrupted || noSpace || err instanceof ExecutorUnavailableError) return { status, results, failed, outputDir: plan.outputDir, error };
    throw err;
  } finally {
    await executor?.close();
  }
}

interface ScheduleHooks {
  signal: AbortSignal;
  emit: (e: SweepEventInput) => void;
  onCellDone: (result: CellResult) => void;
  onCellFailed: (cellId: string, error: string) => void;
  startIndex: number;
}

/**
 * Runs the job graph on the executor: up to `executor.slots` jobs at once, each job once its
 * dependencies succeeded, a failed job retried `plan.execution.retries` times and then recorded
 * as failed (with the cells that needed it) while the rest goes on.
 */
async function schedule(plan: ResolvedPlan, jobs: JobDescription[], executor: Executor, hooks: ScheduleHooks): Promise<{ interrupted: boolean; error?: string }> {
  const files = sweepLayout(plan.outputDir);
  const state = new Map<string, 'pending' | 'running' | 'succeeded' | 'failed'>(jobs.map((j) => [j.id, 'pending']));
  const failures = new Map<string, string>();
  const running = new Map<string, Promise<void>>();
  // Stops the other jobs when the executor becomes unavailable, as well as on the user's stop.
  const stopAll = new AbortController();
  const stop = () => stopAll.abort();
  hooks.signal.addEventListener('abort', stop);
  // A stop that came while the data loaded starts no job.
  if (hooks.signal.aborted) stopAll.abort();
  let fatal: string | undefined;
  let interrupted = false;
  let index = hooks.startIndex;
  const cellOf = (job: JobDescription) => plan.cells.find((c) => c.id === job.cellId)!;

  const forward = (e: SweepEventInput) => {
    if (!JOB_EVENT_TYPES.has(e.type)) return;
    // JSON carried an undefined metric (NaN) from a worker as null.
    if (e.type === 'metric' && e.value === null) hooks.emit({ ...e, value: NaN });
    else hooks.emit(e);
  };

  const runOne = async (job: JobDescription): Promise<void> => {
    const cellIndex = job.kind === 'cell' ? ++index : 0;
    for (let attempt = 1; ; attempt++) {
      if (job.kind === 'cell') hooks.emit({ type: 'cell:start', cell: cellOf(job), index: cellIndex, total: plan.cells.length });
      let outcome: JobOutcome;
      try {
        outcome = await executor.run(job, attempt, { onEvent: forward, signal: stopAll.signal });
      } catch (err) {
        // An executor's own trouble with one job (a refused submission) is that job's failure.
        if (!(err instanceof ExecutorUnavailableError)) outcome = { status: 'failed', error: (err as Error).message };
        else {
          fatal ??= err.message;
          stopAll.abort();
          state.set(job.id, 'failed');
          return;
        }
      }
      if (outcome.status === 'succeeded') {
        state.set(job.id, 'succeeded');
        if (job.kind === 'cell') {
          const file = files.cellResult(job.cellId!);
          if (!fs.existsSync(file)) {
            outcome = { status: 'failed', error: `the worker reported success but wrote no ${file}` };
          } else {
            const result = readCellResult(file);
            hooks.onCellDone(result);
            hooks.emit({ type: 'cell:done', result, cached: false });
            return;
          }
        } else return;
      }
      if (outcome.status === 'interrupted' || stopAll.signal.aborted) {
        if (hooks.signal.aborted) interrupted = true;
        state.set(job.id, 'failed');
        return;
      }
      // A full disk fails every job the same way: stop the sweep instead of retrying.
      if (isNoSpaceMessage(outcome.error)) {
        fatal ??= `no space left on device while a job wrote into ${plan.outputDir} or the cache: ${outcome.error.split('\n')[0]}; free space and run the same command again (finished cells are kept)`;
        stopAll.abort();
        state.set(job.id, 'failed');
        return;
      }
      if (attempt <= plan.execution.retries) {
        hooks.emit({ type: 'job:retry', jobId: job.id, attempt: attempt + 1, error: outcome.error });
        continue;
      }
      state.set(job.id, 'failed');
      failures.set(job.id, outcome.error);
      if (job.kind === 'cell') {
        hooks.onCellFailed(job.cellId!, outcome.error);
        hooks.emit({ type: 'cell:failed', cellId: job.cellId!, error: outcome.error });
      } else {
        hooks.emit({ type: 'generator:failed', seed: job.seed, ...(job.id === generatorJobId(job.seed) ? {} : { generator: job.id }), error: outcome.error });
      }
      return;
    }
  };

  try {
    for (;;) {
      if (stopAll.signal.aborted && running.size === 0) break;
      // Jobs whose dependency failed fail too, saying why.
      for (const job of jobs) {
        if (state.get(job.id) !== 'pending') continue;
        const broken = job.dependsOn.find((d) => state.get(d) === 'failed');
        if (!broken || stopAll.signal.aborted) continue;
        state.set(job.id, 'failed');
        if (job.kind === 'cell') {
          const error = `not run: job ${broken} failed${failures.get(broken) ? `: ${failures.get(broken)!.split('\n')[0]}` : ''}`;
          hooks.onCellFailed(job.cellId!, error);
          hooks.emit({ type: 'cell:failed', cellId: job.cellId!, error });
        }
      }
      if (!stopAll.signal.aborted) {
        for (const job of jobs) {
          if (running.size >= executor.slots) break;
          if (state.get(job.id) !== 'pending' || !job.dependsOn.every((d) => state.get(d) === 'succeeded')) continue;
          if (!(job.after ?? []).every((d) => ['succeeded', 'failed'].includes(state.get(d) ?? 'succeeded'))) continue;
          state.set(job.id, 'running');
          running.set(job.id, runOne(job).finally(() => running.delete(job.id)));
        }
      }
      if (running.size === 0) break;
      await Promise.race(running.values());
    }
  } finally {
    hooks.signal.removeEventListener('abort', stop);
  }
  return { interrupted: interrupted || hooks.signal.aborted, error: fatal };
}

/**
 * The Fréchet distance in the 100:0 classifier's features lives in that cell's result; the
 * sweep's quality file gets it from there, so a resumed sweep keeps it too.
 */
function mergeFrechet(plan: ResolvedPlan, results: CellResult[]): void {
  for (const r of results) {
    if (!r.frechetRealClassifier) continue;
    // A size's own generator has a quality file of its own.
    const size = r.cell.generator ? r.cell.trainingSetSize : undefined;
    const q = readSeedQuality(plan.outputDir, r.cell.seed, undefined, size);
    if (!q) continue;
    for (const [name, value] of Object.entries(r.frechetRealClassifier)) q.perClass[name] = { ...q.perClass[name], frechetRealClassifier: value, ...(r.prdcRealClassifier?.[name] ? { prdcRealClassifier: r.prdcRealClassifier[name] } : {}) };
    writeJsonAtomically(sweepLayout(plan.outputDir).quality(r.cell.seed, undefined, size), q);
  }
}

/** The quality verdicts of a plan's generators: one per seed, or one per seed and size. */
export function generatorVerdicts(plan: ResolvedPlan): { seed: number; trainingSetSize?: number; far: string[] }[] {
  const sizes = plan.design?.generatorData === 'size' ? plan.design.sizes : [undefined];
  return plan.seeds.flatMap((seed) => sizes.map((size) => ({ seed, ...(size ? { trainingSetSize: size } : {}), far: readSeedQuality(plan.outputDir, seed, undefined, size)?.verdict?.far ?? [] })));
}

/** The answer of the cells there are, with the seeds whose generator was warned; none without a comparison. */
function sweepAnswer(plan: ResolvedPlan, results: CellResult[]): SweepAnswer | undefined {
  const warnedSeeds = [...new Set(generatorVerdicts(plan).filter((v) => v.far.length).map((v) => v.seed))];
  const answer = answerSweep(plan, results, { warnedSeeds });
  return answer.sizes.some((s) => s.points.length) ? answer : undefined;
}

const CSV_METRICS = ['accuracy', 'precision', 'recall', 'specificity', 'f1', 'auc', 'balancedAccuracy', 'mcc'];

function averaging(plan: ResolvedPlan): string {
  return plan.dataset.classes.length === 2 ? `positive=${plan.dataset.classes[plan.dataset.positiveClass].name}` : 'macro';
}

function writeResultsCsv(file: string, plan: ResolvedPlan, results: CellResult[]): void {
  // `averaging` says what the metrics are: `positive=<class>` (binary) or `macro` (more classes).
  // The columns of the first design stay first; mode, size and multiple come after them.
  const header = ['cell', 'ratio', 'seed', 'real_per_class', 'synthetic_per_class', 'generator_epoch', 'averaging', ...CSV_METRICS.flatMap((m) => [m, `${m}_ci_low`, `${m}_ci_high`]), 'mode', 'training_set_size', 'synthetic_per_real'];
  const order = new Map(plan.cells.map((c, i) => [c.id, i]));
  const rows = [...results].sort((a, b) => (order.get(a.cell.id) ?? 0) - (order.get(b.cell.id) ?? 0)).map((r) => [
    r.cell.id, r.cell.ratio, r.cell.seed, r.cell.realPerClass, r.cell.syntheticPerClass, r.cell.generatorEpoch ?? '', averaging(plan),
    ...CSV_METRICS.flatMap((m) => [r.metrics[m], r.metrics[`${m}_ci_low`], r.metrics[`${m}_ci_high`]].map((v) => (v === undefined || Number.isNaN(v) ? '' : Number(v).toFixed(6)))),
    modeOf(r.cell), r.cell.trainingSetSize ?? (r.cell.realPerClass + r.cell.syntheticPerClass) * plan.dataset.classes.length, r.cell.syntheticPerReal ?? '',
  ].join(','));
  writeFileAtomic(file, `${header.join(',')}\n${rows.map((r) => `${r}\n`).join('')}`);
}
