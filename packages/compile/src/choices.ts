/**
 * What `compile: auto` measured: for one step of one model on one machine, how long a step took
 * on each path (compiled, compiled + XLA, eager) and which it took. Kept in one JSON file (the
 * project's cache has it), so the next run on this machine takes the same path without
 * measuring, like cuDNN's benchmark mode, and `synthmix doctor` can show it.
 *
 * The file is only a speed hint: a damaged or unreadable one is read as empty and rewritten,
 * and one that cannot be written (full disk, read-only cache) costs a warning and a measurement
 * next time, never a result.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export type StepPath = 'compiled' | 'xla' | 'eager';
export const STEP_PATHS: readonly StepPath[] = ['compiled', 'xla', 'eager'];

/** Words for a path, as the log and doctor say it. */
export const STEP_PATH_WORDS: Record<StepPath, string> = { compiled: 'compiled', xla: 'compiled + XLA', eager: 'eager' };

export interface StepChoice {
  /** The plugin that compiles (`synthmix:dcgan`). */
  owner: string;
  step: string;
  /** The inputs' dtypes and shapes (`float32[64,64,64,3] float32[64,100]`). */
  shape: string;
  path: StepPath;
  /** Median milliseconds a step took on each path measured. */
  msPerStep: Partial<Record<StepPath, number>>;
  /** ISO time of the measurement. */
  measuredAt: string;
  /** The machine, in words ({@link machineDescription}). */
  machine: string;
  machineKey: string;
}

/** `compiled + XLA (compiled 612 ms, compiled + XLA 420 ms, eager 1.13 s a step)`: the path and what was measured. */
export function choiceInWords(c: Pick<StepChoice, 'path' | 'msPerStep'>): string {
  const time = (ms: number) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : ms >= 10 ? `${Math.round(ms)} ms` : `${ms.toFixed(1)} ms`);
  const measured = STEP_PATHS.filter((p) => c.msPerStep[p] !== undefined).map((p) => `${STEP_PATH_WORDS[p]} ${time(c.msPerStep[p]!)}`);
  return `${STEP_PATH_WORDS[c.path]}${measured.length ? ` (${measured.join(', ')} a step)` : ''}`;
}

interface ChoiceFile {
  version: 1;
  choices: Record<string, StepChoice>;
}

/** The key a choice is remembered under: the machine, the step, its input shapes and its graph. */
export function choiceKey(machineKey: string, owner: string, step: string, shape: string, graphHash: string): string {
  return createHash('sha256').update(JSON.stringify([machineKey, owner, step, shape, graphHash])).digest('hex').slice(0, 24);
}

function isChoice(c: unknown): c is StepChoice {
  const o = c as StepChoice;
  return !!o && typeof o === 'object' && STEP_PATHS.includes(o.path) && typeof o.owner === 'string' && typeof o.step === 'string' && typeof o.shape === 'string' && typeof o.machineKey === 'string' && !!o.msPerStep && typeof o.msPerStep === 'object';
}

/** Every readable choice in the file, by key (a missing or damaged file has none). */
export function readChoices(file: string): Map<string, StepChoice> {
  let parsed: ChoiceFile;
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as ChoiceFile;
  } catch {
    return new Map();
  }
  if (parsed?.version !== 1 || !parsed.choices || typeof parsed.choices !== 'object') return new Map();
  return new Map(Object.entries(parsed.choices).filter(([, c]) => isChoice(c)));
}

/**
 * Adds a choice to the file: read, merged, written to a temporary file and renamed over it, so a
 * reader never sees half a file. Two runs writing at once can lose one's entry (it is measured
 * again), never damage the file. Throws when the file cannot be written.
 */
export function rememberChoice(file: string, key: string, choice: StepChoice): void {
  const choices = Object.fromEntries(readChoices(file));
  choices[key] = choice;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const temporary = `${file}.${process.pid}.${Date.now()}.tmp`;
  try {
    fs.writeFileSync(temporary, `${JSON.stringify({ version: 1, choices } satisfies ChoiceFile, null, 1)}\n`);
    fs.renameSync(temporary, file);
  } catch (e) {
    fs.rmSync(temporary, { force: true });
    throw e;
  }
}
