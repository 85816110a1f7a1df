/**
 * The one place that knows where things live: a sweep's output folder and the project's
 * content-addressed cache. The runner, the workers, the tracker, the report and the CLI all ask
 * here instead of joining paths themselves.
 */
import path from 'node:path';
import { safeFileName } from './plugin-kit.js';

/** Files and folders of one sweep's output folder. */
export function sweepLayout(dir: string) {
  const cellsDir = path.join(dir, 'cells');
  const jobsDir = path.join(dir, 'jobs');
  const reportDir = path.join(dir, 'report');
  return {
    dir,
    manifest: path.join(dir, 'manifest.yaml'),
    /** The resolved plan, read by every worker. */
    plan: path.join(dir, 'plan.json'),
    dataReport: path.join(dir, 'data-report.json'),
    duplicateGroups: path.join(dir, 'duplicate-groups.png'),
    testSet: path.join(dir, 'test-set.json'),
    cellsDir,
    cellDir: (id: string) => path.join(cellsDir, id),
    /** Written last by a cell: its presence marks the cell complete for resume. */
    cellResult: (id: string) => path.join(cellsDir, id, 'result.json'),
    predictions: (id: string) => path.join(cellsDir, id, 'predictions.csv'),
    cellModel: (id: string) => path.join(cellsDir, id, 'model'),
    cellPlot: (id: string, name: 'roc.png' | 'confusion.png') => path.join(cellsDir, id, name),
    /** Grad-CAM heatmaps of the fixed real test images (100:0 and the most synthetic cell). */
    cellGradCam: (id: string) => path.join(cellsDir, id, 'gradcam.png'),
    results: path.join(dir, 'results.csv'),
    /** The sweep's answer (answer.ts), as the report and the tracker state it. */
    answer: path.join(dir, 'answer.json'),
    /** Synthetic-image quality per seed (SSIM, diversity, Fréchet distance). */
    quality: (seed: number, epoch?: number, trainingSetSize?: number) => path.join(dir, `quality-seed${seed}${trainingSetSize === undefined ? '' : `-real${trainingSetSize}`}${epoch === undefined ? '' : `-epoch${epoch}`}.json`),
    realSamples: (className: string) => path.join(dir, `samples-real-${safeFileName(className)}.png`),
    events: path.join(dir, 'events.jsonl'),
    /** Held by the one process that runs (or syncs) this sweep: who, where, since when. */
    lock: path.join(dir, '.synthmix.lock'),
    /** Job descriptions and what each attempt reported (events, outcome). */
    jobsDir,
    jobFile: (jobId: string) => path.join(jobsDir, `${jobId}.json`),
    jobEvents: (jobId: string, attempt: number) => path.join(jobsDir, `${jobId}.attempt${attempt}.events.jsonl`),
    jobOutcome: (jobId: string, attempt: number) => path.join(jobsDir, `${jobId}.attempt${attempt}.outcome.json`),
    jobLog: (jobId: string, attempt: number) => path.join(jobsDir, `${jobId}.attempt${attempt}.log`),
    /** The MLflow spool of the tracker. */
    mlflowDir: path.join(dir, 'mlflow'),
    reportDir,
    reportHtml: path.join(reportDir, 'report.html'),
    /** Loss figure of a seed's generator, or of a size's own (`generator` its job id). */
    generatorLossPlot: (seed: number, generator?: string) => path.join(reportDir, generator ? `gan-losses-${safeFileName(generator)}.png` : `gan-losses-seed${seed}.png`),
    /** The last synthetic sample grid of a class and seed, copied beside the report. */
    syntheticSamples: (className: string, seed: number, generator?: string) => path.join(reportDir, `samples-synthetic-${safeFileName(className)}-${generator ? safeFileName(generator) : `seed${seed}`}.png`),
  };
}

export type SweepLayout = ReturnType<typeof sweepLayout>;

/** Folders of the content-addressed cache (datasets, generator states and their pools). */
export function cacheLayout(cacheDir: string) {
  return {
    dir: cacheDir,
    datasets: path.join(cacheDir, 'datasets'),
    /** Where `compile: auto` remembers the fastest path per machine and step (@synthmix/compile's choices.ts owns the format). */
    compileChoices: path.join(cacheDir, 'compile-choices.json'),
    generatorDir: (key: string) => path.join(cacheDir, 'generators', key),
    generatorComplete: (key: string) => path.join(cacheDir, 'generators', key, 'complete.json'),
    /** Held while a process trains or samples into the entry (beside it, so dropping the entry keeps the lock). */
    generatorLock: (key: string) => path.join(cacheDir, 'generators', `${key}.lock`),
    /** Synthetic pool of a generator state; `epoch` for the snapshot after that epoch. */
    pool: (key: string, perClass: number, epoch?: number) => path.join(cacheDir, 'generators', key, `pool-${perClass}${epoch === undefined ? '' : `-epoch${epoch}`}.f32`),
    /** The quality measures of that pool against the real images its generator learned from. */
    poolQuality: (key: string, perClass: number, epoch?: number) => path.join(cacheDir, 'generators', key, `pool-${perClass}${epoch === undefined ? '' : `-epoch${epoch}`}.quality.json`),
  };
}
