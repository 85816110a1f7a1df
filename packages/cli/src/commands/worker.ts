import fs from 'node:fs';
import { appendLine, writeJsonAtomic } from '@synthmix/data';
import os from 'node:os';
import { JobInterrupted, readJobDescription, runJob, sweepLayout, SweepFolderNotVisibleError, type SweepEvent, type SweepEventInput } from '@synthmix/core';
import { EXIT, UsageError, type Command } from '../command.js';

/**
 * Runs one job of a sweep: what the `local` executor's worker processes and the `ray`
 * executor's Ray jobs start. Events go to the job's events file in the sweep's folder (JSON
 * Lines, read by the process running the sweep); the outcome goes beside it.
 */
export const worker: Command = {
  name: 'worker',
  brief: 'Run one job of a sweep (started by executors)',
  summary: "Run one job of a sweep (a generator or a cell) from its job file in the sweep's jobs/ folder. The local and ray executors start this; it is not meant to be typed.",
  args: [{ name: 'job', description: "Job file (<output>/jobs/<job>.json), on a filesystem this host shares with the sweep's", required: true }],
  options: {
    attempt: { type: 'string', valueName: 'n', description: 'Attempt number (names the events and outcome files; default 1)' },
  },
  details: ['Exit codes: 0 the job succeeded, 1 it failed, 2 the job or the sweep folder cannot be read from this host, 130 stopped.'],
  async run({ args, options, io }) {
    const attempt = Number(options.attempt ?? 1);
    if (!Number.isInteger(attempt) || attempt < 1) throw new UsageError(`--attempt: expected a whole number of at least 1, found "${String(options.attempt)}"`);
    let job;
    try {
      job = readJobDescription(args[0], os.hostname());
    } catch (err) {
      if (err instanceof SweepFolderNotVisibleError) {
        io.stderr.write(`synthmix worker: ${err.message}\n`);
        return EXIT.usage;
      }
      throw err;
    }
    const layout = sweepLayout(job.outputDir);
    const eventsFile = layout.jobEvents(job.id, attempt);
    const outcomeFile = layout.jobOutcome(job.id, attempt);
    fs.rmSync(outcomeFile, { force: true });
    const controller = new AbortController();
    const stop = () => controller.abort();
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
    // Written atomically; when even that fails (a full disk), the sweep reads the reason from this worker's log.
    const writeOutcome = (outcome: { status: string; error?: string }) => {
      try {
        writeJsonAtomic(outcomeFile, outcome);
      } catch (err) {
        io.stderr.write(`synthmix worker: cannot write the outcome of job ${job.id} (${outcome.error ?? outcome.status}): ${(err as Error).message}\n`);
      }
    };
    // Appended synchronously, line by line, so the sweep's process never reads half an event.
    const emit = (e: SweepEventInput) => appendLine(eventsFile, JSON.stringify({ ...e, time: Date.now() } as SweepEvent, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v)));
    io.stderr.write(`synthmix worker: job ${job.id}, attempt ${attempt}, on ${os.hostname()} (pid ${process.pid})\n`);
    try {
      await runJob(job, { emit, signal: controller.signal });
      if (controller.signal.aborted) {
        writeOutcome({ status: 'interrupted' });
        return EXIT.interrupted;
      }
      writeOutcome({ status: 'succeeded' });
      return EXIT.ok;
    } catch (err) {
      if (err instanceof JobInterrupted || controller.signal.aborted) {
        writeOutcome({ status: 'interrupted' });
        return EXIT.interrupted;
      }
      writeOutcome({ status: 'failed', error: (err as Error).message });
      io.stderr.write(`synthmix worker: job ${job.id} failed: ${(err as Error).stack ?? String(err)}\n`);
      return EXIT.failed;
    } finally {
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
    }
  },
};
