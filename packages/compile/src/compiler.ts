/**
 * Compiled training steps. A {@link Compiler} owns one TensorFlow session; each
 * {@link CompiledStep} is a JavaScript step function (tfjs ops on tfjs variables) that is
 * recorded while it runs eagerly, and then run as one graph in that session, per input shape:
 *
 *   warm-up  eager                 a call that creates variables (an optimizer's first)
 *   call 1   recorded, undone, run by the graph made from the recording
 *            (auto with a choice file: the path for this shape is chosen here, see below)
 *   call 2   recorded, undone, compared with call 1: identical → graph; else eager for good, with a warning
 *   call 3…  one TF_SessionRun     feeds the inputs, fetches the outputs, assigns the variables
 *
 * `compile: auto` with a choice file (`choices`) takes the fastest path for each step and input
 * shape on this machine, like cuDNN's benchmark mode: at call 1 it times a few steps on each
 * allowed path (compiled, compiled + XLA, eager) from the same state, puts every variable and
 * optimizer counter back, and goes on with the fastest; the choice is remembered in the file
 * under the CPU facts, the step, its shapes and its graph, so later runs here take it without
 * measuring. A step quicker than `trialFromMs` compiled is not measured (the trial would cost
 * more than it could save). The paths agree within {@link TOLERANCE}, so a choice never changes
 * results beyond it, and a run that recalls a choice repeats the run that measured it exactly.
 *
 * Weights live in the session as resource variables while compiled steps run; `sync()` copies
 * them back into the tfjs variables (call it before validation, checkpoints or sampling), and a
 * tfjs variable changed in JavaScript (restored checkpoint, best weights) is copied into the
 * session before the next compiled run. So checkpoints are the same files on both paths.
 */
import type * as tfjs from '@tensorflow/tfjs';
import { buildGraphDef, UnsupportedOp, variableAccessNodes, type StepGraph } from './graph.js';
import { loadGraphBinding, type GraphBinding, type RunResult } from './native.js';
import { decodeOpList, decodeOpTimings, encodeConfig, encodeGraphDef, TRACE_RUN_OPTIONS, type OpDef, type OpTiming } from './proto.js';
import { canonicalLines, differenceBetween, dtypeNumber, recordStep, registeredVariables, type TF, type Trace } from './trace.js';
import { choiceKey, readChoices, rememberChoice, type StepChoice, type StepPath } from './choices.js';
import { cpuFacts, machineDescription, machineKey, sessionThreads } from './machine.js';
import { createHash } from 'node:crypto';

type Tensor = tfjs.Tensor;
type Variable = tfjs.Variable;

export type CompileMode = 'auto' | 'on' | 'off';
export const COMPILE_MODES: readonly CompileMode[] = ['auto', 'on', 'off'];

/** Steps quicker than this (ms, compiled) are not measured by `compile: auto`: the trial would cost more than it could save. */
export const TRIAL_FROM_MS = 50;

export interface CompilerOptions {
  /** auto: compile where possible and warn where not; on: fail where not; off: always eager. */
  mode: CompileMode;
  /** Who compiles (a plugin name), for warnings and errors. */
  owner: string;
  warn?: (message: string) => void;
  /**
   * XLA: true compiles every step with XLA (auto-clustering in the session), false never;
   * unset, `auto` with `choices` measures whether it is faster per step, and the rest never use it.
   */
  xla?: boolean;
  /**
   * `auto` only: the JSON file where the fastest path per machine and step is remembered
   * (choices.ts). Without it `auto` does not measure: compiled where possible (deterministic,
   * as tests want).
   */
  choices?: string;
  /** Told before `auto` times the paths of a step (it takes a few steps per path, XLA's compilation included). */
  measuring?: (what: { owner: string; step: string; shape: string; paths: StepPath[] }) => void;
  /** Told the path `auto` took for a step and shape, measured now or remembered. */
  chosen?: (choice: StepChoice & { remembered: boolean }) => void;
  /** Steps timed per path when choosing (after one untimed); default 3. */
  trialSteps?: number;
  /**
   * A step whose compiled call takes less than this (milliseconds; default 50; one call timed
   * when nothing is remembered) is not measured and stays compiled: the trial (XLA's compilation
   * alone takes seconds) would cost more than a choice could save over a run's steps.
   */
  trialFromMs?: number;
  /**
   * A profile: every compiled call is traced (FULL_TRACE) and its ops' timings handed here.
   * Tracing slows each op; for finding where a step's time goes (bench/profile.mjs), not for runs.
   */
  opTimings?: (timings: OpTiming[], step: string) => void;
  /** TensorFlow threads per op; default: TF_NUM_INTRAOP_THREADS, as the eager path uses. */
  intraOpThreads?: number;
  interOpThreads?: number;
}

/** A step that could not be compiled under `compile: on`. */
export class CompileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CompileError';
  }
}

interface VariableState {
  variable: Variable;
  meta: { dtype: number; shape: number[] };
  /** tfjs data id at the last copy between tfjs and the session (undefined: not in the session). */
  syncedDataId?: object;
  /** The session holds a value newer than the tfjs variable. */
  sessionNewer: boolean;
  /** JavaScript assigned the tfjs variable since the last copy (even to the same data). */
  writtenInJs: boolean;
  prefix: string;
  /** Puts the variable's own `assign` back. */
  unwatch(): void;
}

type CompiledPhase = { kind: 'compiled'; graph: StepGraph; variables: VariableState[]; outputs: { name: string; dtype: 'float32' | 'int32' | 'bool' }[]; verified?: boolean; trace?: Trace; /** The variables each call assigns. */ assigned: VariableState[] };
type Phase = CompiledPhase | { kind: 'eager' };

/** `auto` prefers the compiled path unless another is at least this much faster (timing noise on a busy machine). */
const CHOICE_MARGIN = 0.1;

/**
 * The path to take from median milliseconds per step: the fastest, unless it beats the compiled
 * path (when measured) by less than {@link CHOICE_MARGIN}, where the compiled one stays.
 */
export function fastestPath(msPerStep: Partial<Record<StepPath, number>>): StepPath {
  const measured = (Object.entries(msPerStep) as [StepPath, number][]).filter(([, ms]) => Number.isFinite(ms));
  if (!measured.length) throw new Error('no path was measured');
  const [best, bestMs] = measured.reduce((a, b) => (b[1] < a[1] ? b : a));
  const compiled = msPerStep.compiled;
  return compiled !== undefined && Number.isFinite(compiled) && bestMs > compiled * (1 - CHOICE_MARGIN) ? 'compiled' : best;
}

/**
 * What a step's speed depends on in its recording: ops, attributes, shapes and wiring — not
 * weight names, constant values, or the order of the assigns (which follows the order variables
 * were registered in, different in a run resumed from a checkpoint).
 */
function graphHash(trace: Trace): string {
  const lines = canonicalLines(trace).map((l) => (l.startsWith('variable ') ? l.replace(/^(variable \d+) \S+/, '$1') : l.startsWith('constant ') ? l.replace(/ \S+$/, '') : l));
  const assigns = lines.filter((l) => l.startsWith('assign ')).sort();
  lines.splice(lines.findIndex((l) => l.startsWith('assign ')), assigns.length, ...assigns);
  return createHash('sha256').update(lines.join('\n')).digest('hex').slice(0, 16);
}

export interface StepCounts { eager: number; recorded: number; compiled: number }

const TF_TO_TFJS: Record<number, 'float32' | 'int32' | 'bool'> = { 1: 'float32', 3: 'int32', 10: 'bool' };
const MAX_CONSTANT_BYTES = 64 * 1024 * 1024;

let opDefCache: Map<string, OpDef> | undefined;
function opDefs(binding: GraphBinding): Map<string, OpDef> {
  opDefCache ??= new Map(decodeOpList(binding.opList()).map((d) => [d.name, d]));
  return opDefCache;
}

export class Compiler {
  private binding?: GraphBinding;
  private session?: object;
  private readonly variables = new Map<Variable, VariableState>();
  private graphs = 0;
  private disposed = false;
  /** Set while the compiler itself assigns tfjs variables (sync), which is not a write from JavaScript. */
  private copying = false;

  constructor(readonly tf: TF, readonly options: CompilerOptions) {}

  /** Wraps `fn` (tfjs ops on tfjs variables; returns named tensors) as a compiled step. */
  step<I extends Tensor[], O extends Record<string, Tensor>>(name: string, fn: (...inputs: I) => O, hooks: StepHooks = {}): CompiledStep<I, O> {
    return new CompiledStep<I, O>(this, name, fn, hooks);
  }

  /** Copies every variable the session changed back into its tfjs variable. */
  sync(): void {
    const stale = [...this.variables.values()].filter((s) => s.sessionNewer && !s.variable.isDisposed);
    if (!stale.length) return;
    const values = this.native().run(this.session!, [], stale.map((s) => `${s.prefix}read:0`), []);
    this.copying = true;
    try {
      stale.forEach((s, i) => {
        const t = toTensor(this.tf, values[i]);
        s.variable.assign(t as never);
        t.dispose();
        s.syncedDataId = s.variable.dataId;
        s.sessionNewer = false;
        s.writtenInJs = false;
      });
    } finally {
      this.copying = false;
    }
  }

  /** Closes the session (its variables go with it). The tfjs variables are synced first. */
  dispose(): void {
    if (this.disposed) return;
    if (this.session) {
      this.sync();
      this.native().close(this.session);
    }
    this.disposed = true;
    this.session = undefined;
    for (const s of this.variables.values()) s.unwatch();
    this.variables.clear();
  }

  private machine?: { key: string; description: string };
  /** @internal The key and words of this machine and session threads, for choices. */
  machineFacts(): { key: string; description: string } {
    if (!this.machine) {
      const facts = cpuFacts();
      const threads = { intraOp: this.intraOpThreads(), interOp: this.interOpThreads() };
      this.machine = { key: machineKey(facts, threads, this.native().version()), description: machineDescription(facts) };
    }
    return this.machine;
  }

  private intraOpThreads(): number {
    return this.options.intraOpThreads ?? sessionThreads().intraOp;
  }

  private interOpThreads(): number {
    return this.options.interOpThreads ?? sessionThreads().interOp;
  }

  /**
   * @internal Forgets what compiled calls did to these variables in the session: the tfjs
   * values (unchanged by those calls) are pushed again before the next compiled run.
   */
  discardSessionWrites(states: VariableState[]): void {
    for (const s of states) {
      s.sessionNewer = false;
      s.writtenInJs = true;
    }
  }

  /** @internal */
  native(): GraphBinding {
    this.binding ??= loadGraphBinding();
    return this.binding;
  }

  /** @internal Imports a recorded step (`xla`: marked for XLA, see buildGraphDef); returns what a compiled call needs. */
  compile(trace: Trace, options: { xla?: boolean } = {}): CompiledPhase {
    if (this.disposed) throw new Error('the compiler was disposed');
    const big = trace.constants.reduce((n, c) => n + (c.values.every((v) => v === c.values[0]) ? 0 : c.values.byteLength), 0);
    if (big > MAX_CONSTANT_BYTES) throw new UnsupportedOp(`the step captures ${(big / 2 ** 20).toFixed(0)} MiB of constants (a dataset?); pass large tensors as inputs`);
    const binding = this.native();
    this.session ??= binding.open(encodeConfig({ intraOpThreads: this.intraOpThreads(), interOpThreads: this.interOpThreads(), xla: this.options.xla ?? false }));
    const prefix = `step${this.graphs++}/`;
    const graph = buildGraphDef(trace, opDefs(binding), prefix, options);
    binding.importGraph(this.session, encodeGraphDef(graph.nodes, 1087), prefix);
    const variables = trace.variables.map(({ variable, meta }) => this.variableState(variable, meta));
    return { kind: 'compiled', graph, variables, assigned: trace.assigns.map((a) => variables[a.variable]), outputs: trace.outputs.map((o) => ({ name: o.name, dtype: TF_TO_TFJS[o.meta.dtype] ?? 'float32' })) };
  }

  private variableState(variable: Variable, meta: { dtype: number; shape: number[] }): VariableState {
    let state = this.variables.get(variable);
    if (!state) {
      const prefix = `variables/${this.variables.size}/`;
      this.native().importGraph(this.session!, encodeGraphDef(variableAccessNodes(variable, meta), 1087), prefix);
      // A write to a tfjs variable is not always a new data id (setWeights with a clone of the
      // current value keeps it), so writes are watched where they happen.
      const own = Object.prototype.hasOwnProperty.call(variable, 'assign');
      const assign = variable.assign;
      const watched: VariableState = { variable, meta, sessionNewer: false, writtenInJs: true, prefix, unwatch: () => (own ? (variable.assign = assign) : delete (variable as { assign?: unknown }).assign) };
      variable.assign = (value: Tensor) => {
        if (!this.copying) watched.writtenInJs = true;
        assign.call(variable, value as never);
      };
      state = watched;
      this.variables.set(variable, state);
    }
    return state;
  }

  /** @internal Runs a compiled step: pushes variables changed in JavaScript, runs, marks assigned ones. */
  run(phase: CompiledPhase, inputs: Tensor[], stepName: string): RunResult[] {
    const binding = this.native();
    const push = phase.variables.filter((s) => s.writtenInJs || s.variable.dataId !== s.syncedDataId);
    for (const s of push) {
      if (s.sessionNewer) throw new Error(`${this.options.owner} ${stepName}: variable ${s.variable.name} was changed in JavaScript while the compiled step held newer values; call sync() before changing weights`);
    }
    if (push.length) {
      binding.run(this.session!, push.map((s) => ({ name: `${s.prefix}value:0`, dtype: s.meta.dtype, shape: s.meta.shape, data: s.variable.dataSync() })), [], push.map((s) => `${s.prefix}assign`));
      push.forEach((s) => {
        s.syncedDataId = s.variable.dataId;
        s.writtenInJs = false;
      });
    }
    const feeds = inputs.map((t, i) => ({ name: phase.graph.feeds[i], dtype: dtypeNumber(t.dtype), shape: [...t.shape], data: t.dataSync() }));
    const profile = this.options.opTimings;
    const results = binding.run(this.session!, feeds, phase.graph.fetches, phase.graph.targets, profile ? TRACE_RUN_OPTIONS : undefined);
    for (const s of phase.assigned) s.sessionNewer = true;
    if (profile && results.metadata) profile(decodeOpTimings(results.metadata), stepName);
    return results;
  }
}

export interface StepHooks {
  /**
   * JavaScript state the step changes besides tensors (e.g. a tfjs optimizer's iteration
   * counter): `snapshot` saves it and returns a function that puts it back (a recorded call is
   * undone before the graph runs it); `afterCompiledCall` replays the change after each call
   * the graph ran, because the graph cannot make it.
   */
  snapshot?: () => () => void;
  afterCompiledCall?: () => void;
}

function toTensor(tf: TF, r: RunResult, dtype?: 'float32' | 'int32' | 'bool'): Tensor {
  const d = dtype ?? TF_TO_TFJS[r.dtype];
  if (!d) throw new Error(`the compiled step returned TensorFlow type ${r.dtype}, which tfjs cannot hold`);
  const buffer = r.data.buffer.slice(r.data.byteOffset, r.data.byteOffset + r.data.byteLength);
  const values = d === 'float32' ? new Float32Array(buffer) : d === 'int32' ? new Int32Array(buffer) : new Uint8Array(buffer);
  return tf.tensor(values, r.shape, d);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function shapeKey(inputs: Tensor[]): string {
  return inputs.map((t) => `${t.dtype}[${t.shape.join(',')}]`).join(' ');
}

/** The tfjs variables' values before a recorded call, to undo it. */
function saveVariables(tf: TF): { restore(): void; dispose(): void } {
  const variables = registeredVariables(tf).filter((v) => !v.isDisposed);
  const saved = variables.map((v) => ({ v, dataId: v.dataId, value: v.clone() })); // clones share the data
  return {
    restore: () => saved.forEach(({ v, dataId, value }) => {
      if (!v.isDisposed && v.dataId !== dataId) v.assign(value);
    }),
    dispose: () => saved.forEach(({ value }) => value.dispose()),
  };
}

/**
 * One step function, compiled per input shape. A call with a new shape is recorded (run
 * eagerly), undone, and run by the graph made from the recording; the next call with that shape
 * is recorded, undone and compared with the first: identical, and from then on the graph alone
 * runs it; different, and the step stays eager (the call's eager result is kept). So every call
 * after the warm-up runs the same way, wherever a run was resumed. A call that creates variables
 * (an optimizer's first) is a warm-up: its eager result is kept and nothing is compiled.
 */
export class CompiledStep<I extends Tensor[], O extends Record<string, Tensor>> {
  readonly counts: StepCounts = { eager: 0, recorded: 0, compiled: 0 };
  /** Calls the graph ran, per input shape (`float32[16,6] float32[16,1]`): which graph ran which batch. */
  readonly compiledByShape = new Map<string, number>();
  /** The path `auto` chose per input shape (with a choice file), measured or remembered. */
  readonly choice = new Map<string, StepChoice>();
  private readonly phases = new Map<string, Phase>();
  private fallback?: string;

  constructor(private readonly compiler: Compiler, readonly name: string, private readonly fn: (...inputs: I) => O, private readonly hooks: StepHooks) {}

  /** Why this step runs eagerly for good, if it does. */
  get fallbackReason(): string | undefined {
    return this.fallback;
  }

  /** Runs one step. The outputs are new tensors the caller owns. */
  run(...inputs: I): O {
    const { mode } = this.compiler.options;
    if (mode === 'off' || this.fallback) return this.eager(inputs);
    const key = shapeKey(inputs);
    const phase = this.phases.get(key);
    if (phase?.kind === 'eager') return this.eager(inputs);
    if (phase?.kind === 'compiled' && phase.verified) return this.runCompiled(key, phase, inputs);

    // Recording runs the step eagerly on the tfjs variables, so they must be current.
    const tf = this.compiler.tf;
    this.compiler.sync();
    const restoreJs = this.hooks.snapshot?.();
    const saved = saveVariables(tf);
    const { result, trace } = recordStep(tf, this.fn as never, inputs);
    this.counts.recorded++;
    const keepEager = (reason?: string) => {
      saved.dispose();
      try {
        if (reason) this.giveUp(key, reason);
      } catch (e) {
        tf.dispose(Object.values(result));
        throw e;
      }
      return result as O;
    };
    if (trace.unusable) return keepEager(trace.unusable);
    if (trace.createdVariables) return keepEager();
    let next: CompiledPhase;
    if (phase?.kind === 'compiled') {
      const difference = differenceBetween(phase.trace!, trace);
      if (difference) return keepEager(difference);
      next = { ...phase, verified: true, trace: undefined };
    } else {
      try {
        next = { ...this.compiler.compile(trace), trace, verified: false };
      } catch (e) {
        if (!(e instanceof UnsupportedOp) && !(e as { code?: string }).code) throw e;
        return keepEager((e as Error).message);
      }
    }
    this.phases.set(key, next);
    // Undo the recorded call; the graph (or the chosen path) runs it instead.
    saved.restore();
    saved.dispose();
    restoreJs?.();
    tf.dispose(Object.values(result));
    if (!next.verified) {
      // The path is chosen before the graph's first call, so every call after the warm-up runs
      // the same way whether the choice is measured now or remembered (exact resume).
      const chosen = this.choosePath(key, next, trace, inputs);
      this.phases.set(key, chosen);
      if (chosen.kind === 'eager') return this.eager(inputs);
      next = chosen;
    }
    return this.runCompiled(key, next, inputs);
  }

  /**
   * `auto` with a choice file: the remembered path for this machine, step and shape, else the
   * fastest measured now from the current state (which is put back) and remembered.
   */
  private choosePath(key: string, phase: CompiledPhase, trace: Trace, inputs: I): Phase {
    const { mode, choices: file, xla, owner, warn, trialFromMs = TRIAL_FROM_MS } = this.compiler.options;
    if (mode !== 'auto' || !file) return phase;
    const machine = this.compiler.machineFacts();
    const id = choiceKey(machine.key, owner, this.name, key, graphHash(trace));
    const allowed: StepPath[] = xla === true ? ['xla', 'eager'] : xla === false ? ['compiled', 'eager'] : ['compiled', 'xla', 'eager'];
    let xlaPhase: CompiledPhase | undefined;
    const phaseOf = (path: StepPath): Phase => {
      if (path === 'eager') return { kind: 'eager' };
      // With xla: true the session compiles every graph with XLA, the plain one included.
      if (path === 'compiled' || xla === true) return phase;
      xlaPhase ??= { ...this.compiler.compile(trace, { xla: true }), trace: phase.trace, verified: phase.verified };
      return xlaPhase;
    };
    const remembered = readChoices(file).get(id);
    if (remembered && allowed.includes(remembered.path)) {
      this.choice.set(key, remembered);
      this.compiler.options.chosen?.({ ...remembered, remembered: true });
      return phaseOf(remembered.path);
    }
    if (trialFromMs > 0 && !(this.timeCompiledCall(phase, inputs) >= trialFromMs)) return phase;
    this.compiler.options.measuring?.({ owner, step: this.name, shape: key, paths: allowed });
    const msPerStep = this.timePaths(allowed, phaseOf, phase, inputs);
    const choice: StepChoice = { owner, step: this.name, shape: key, path: fastestPath(msPerStep), msPerStep, measuredAt: new Date().toISOString(), machine: machine.description, machineKey: machine.key };
    try {
      rememberChoice(file, id, choice);
    } catch (e) {
      warn?.(`${owner} ${this.name}: could not remember the measured path in ${file} (${(e as Error).message.split('\n')[0]}); the next run measures again`);
    }
    this.choice.set(key, choice);
    this.compiler.options.chosen?.({ ...choice, remembered: false });
    return phaseOf(choice.path);
  }

  /**
   * Milliseconds of a compiled call from the current state, which is put back (the tfjs
   * variables hold it); the graph's first call (Grappler optimises it then) is not timed.
   */
  private timeCompiledCall(phase: CompiledPhase, inputs: I): number {
    try {
      this.compiler.run(phase, inputs, this.name);
      const start = performance.now();
      this.compiler.run(phase, inputs, this.name);
      return performance.now() - start;
    } finally {
      this.compiler.discardSessionWrites(phase.assigned);
    }
  }

  /**
   * Median milliseconds per step on each path, from the current state: one untimed step, then
   * `trialSteps` timed, on the call's own inputs. Every variable (tfjs and session) and the
   * JavaScript counters are put back afterwards, so the run goes on as if nothing was timed.
   * A path that fails here (XLA unable to compile the graph) is left out, with a warning.
   */
  private timePaths(paths: StepPath[], phaseOf: (p: StepPath) => Phase, plain: CompiledPhase, inputs: I): Partial<Record<StepPath, number>> {
    const { tf } = this.compiler;
    const { owner, warn, trialSteps = 3 } = this.compiler.options;
    const restoreJs = this.hooks.snapshot?.();
    const saved = saveVariables(tf);
    const ms: Partial<Record<StepPath, number>> = {};
    const putBack = () => {
      this.compiler.discardSessionWrites(plain.assigned);
      saved.restore();
    };
    try {
      for (const path of paths) {
        const times: number[] = [];
        try {
          for (let i = 0; i <= trialSteps; i++) {
            const start = performance.now();
            const p = phaseOf(path);
            if (p.kind === 'eager') {
              const out = tf.tidy(() => this.fn(...inputs));
              for (const t of Object.values(out)) t.dataSync();
              tf.dispose(Object.values(out));
            } else {
              this.compiler.run(p, inputs, this.name);
            }
            if (i > 0) times.push(performance.now() - start);
          }
          ms[path] = median(times);
        } catch (e) {
          if (path !== 'xla') throw e;
          warn?.(`${owner} ${this.name}: XLA could not run this step (${(e as Error).message.split('\n')[0]}); choosing among the other paths`);
        }
        putBack();
      }
    } finally {
      putBack();
      saved.dispose();
      restoreJs?.();
    }
    return ms;
  }

  private runCompiled(key: string, phase: CompiledPhase, inputs: I): O {
    const results = this.compiler.run(phase, inputs, this.name);
    this.hooks.afterCompiledCall?.();
    this.counts.compiled++;
    this.compiledByShape.set(key, (this.compiledByShape.get(key) ?? 0) + 1);
    return Object.fromEntries(phase.outputs.map((o, i) => [o.name, toTensor(this.compiler.tf, results[i], o.dtype)])) as O;
  }

  private eager(inputs: I): O {
    this.counts.eager++;
    this.compiler.sync();
    return this.compiler.tf.tidy(() => this.fn(...inputs));
  }

  private giveUp(key: string, reason: string): void {
    const { mode, owner, warn } = this.compiler.options;
    const message = `${owner} ${this.name}: cannot compile (${reason}); running it eagerly`;
    if (mode === 'on') throw new CompileError(`${owner} ${this.name}: cannot compile with compile: on: ${reason}`);
    this.phases.set(key, { kind: 'eager' });
    this.fallback = reason;
    warn?.(message);
  }
}

/**
 * Hooks for steps that apply tfjs optimizers: they count iterations in JavaScript
 * (`iterations_`, saved as `iter` in their weights), which a graph cannot do.
 */
export function optimizerHooks(...optimizers: object[]): StepHooks {
  const counters = optimizers as unknown as { iterations_: number }[];
  return {
    snapshot: () => {
      const saved = counters.map((o) => o.iterations_);
      return () => counters.forEach((o, i) => (o.iterations_ = saved[i]));
    },
    afterCompiledCall: () => counters.forEach((o) => (o.iterations_ += 1)),
  };
}
