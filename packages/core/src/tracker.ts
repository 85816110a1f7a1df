/**
 * The tracker seam: what records a sweep's events somewhere (MLflow, another service, nothing).
 * Events in, runs out; the CLI hands every event to the tracker it set up and never reaches
 * inside. A new tracker is one file implementing this.
 */
import type { Scope, SweepEvent } from './events.js';

/** A record the tracker's backend refused for good, with where and why. */
export interface RefusedRecord {
  /** The server or store it was refused by. */
  server: string;
  /** What was refused (`start-run`, `log`, `artifact`, …). */
  op: string;
  /** The run it belonged to. */
  run: string;
  error: string;
}

export interface SweepTracker {
  /** Takes every event of the sweep, in order; never throws, never blocks training. */
  handle(event: SweepEvent): void;
  /** Attaches a file to a run after the sweep (the report to the sweep, plots to cells). */
  logArtifactAfter(scope: Scope, file: string, folder?: string): void;
  /** Waits until everything is recorded or `timeoutMs` passes; returns how many records are left. */
  flush(stallMs?: number, maxMs?: number): Promise<number>;
  /** Records refused for good in this session. */
  readonly refused: readonly RefusedRecord[];
}
