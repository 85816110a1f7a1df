import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { createRng, loadBackend, type LoadedBackend } from '@synthmix/core';
import { CompileError, Compiler, fastestPath, optimizerHooks, ownCopy, pathDifference, probeCompiledPath, readChoices, TOLERANCE, type CompileMode, type CompilerOptions } from './index.js';

let backend: LoadedBackend;
beforeAll(async () => {
  backend = await loadBackend('tensorflow');
});

type Tensor = ReturnType<LoadedBackend['tf']['tensor']>;

/** A small dense network with Adam; `stepFn` wraps its update so tests can bend it. */
function setup(mode: CompileMode, warnings: string[] = [], stepFn?: (tf: LoadedBackend['tf'], loss: () => Tensor) => Tensor, options: Partial<CompilerOptions> = {}) {
  const { tf } = backend;
  const model = tf.sequential({ layers: [tf.layers.dense({ inputShape: [6], units: 8, activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }), tf.layers.dense({ units: 1, kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) })] });
  const optimizer = tf.train.adam(0.01);
  const compiler = new Compiler(tf as never, { mode, owner: 'test', warn: (w) => warnings.push(w), ...options });
  const variables = model.trainableWeights.map((w) => w.read() as unknown as ReturnType<typeof tf.variable>);
  const step = compiler.step('fit step', (x: Tensor, y: Tensor) => {
    const loss = () => tf.losses.meanSquaredError(y, model.apply(x) as Tensor) as Tensor;
    return { loss: stepFn ? stepFn(tf, loss) : optimizer.minimize(loss as never, true, variables)! };
  }, optimizerHooks(optimizer));
  const dispose = () => {
    compiler.dispose();
    optimizer.dispose();
    model.dispose();
  };
  return { tf, model, optimizer, compiler, step, dispose };
}

function batch(tf: LoadedBackend['tf'], random: () => number, n: number) {
  const x = tf.tensor2d(Float32Array.from({ length: n * 6 }, () => random() * 2 - 1), [n, 6]);
  const y = tf.tensor2d(Float32Array.from({ length: n }, () => random()), [n, 1]);
  return { x, y };
}

function train(mode: CompileMode, steps: number, sizes: (i: number) => number = () => 16, options: Partial<CompilerOptions> = {}, warnings: string[] = []) {
  const s = setup(mode, warnings, undefined, options);
  const random = createRng(5);
  const losses: number[] = [];
  for (let i = 0; i < steps; i++) {
    const { x, y } = batch(s.tf, random, sizes(i));
    const { loss } = s.step.run(x, y);
    losses.push(loss.dataSync()[0]);
    s.tf.dispose([x, y, loss]);
  }
  s.compiler.sync();
  const weights = s.model.getWeights().map((w) => w.dataSync().slice());
  const counts = { ...s.step.counts };
  const byShape = Object.fromEntries(s.step.compiledByShape);
  const iterations = (s.optimizer as unknown as { iterations_: number }).iterations_;
  const choice = Object.fromEntries(s.step.choice);
  s.dispose();
  return { losses, weights, counts, byShape, iterations, choice };
}

describe('op timings of compiled calls (a profile)', () => {
  it('hands every compiled call\'s ops with their kernel time, and the run is the plain compiled run bit for bit', () => {
    const calls: { ops: string[]; micros: number[]; step: string }[] = [];
    const traced = train('on', 8, () => 16, { opTimings: (timings, step) => calls.push({ ops: timings.map((t) => t.op), micros: timings.map((t) => t.micros), step }) });
    const plain = train('on', 8);
    expect(traced.losses).toEqual(plain.losses);
    expect(traced.weights).toEqual(plain.weights);
    // One profile per compiled call, none for the recorded ones.
    expect(calls).toHaveLength(traced.counts.compiled);
    for (const call of calls) {
      expect(call.step).toBe('fit step');
      // The dense layers' products, read from the timeline labels (Grappler may rename them).
      expect(call.ops.some((op) => /MatMul/.test(op))).toBe(true);
      expect(call.micros.every((us) => Number.isFinite(us) && us >= 0)).toBe(true);
    }
  });
});

describe('compiled steps', () => {
  // Eager and compiled are two code paths: Grappler may fuse ops, and oneDNN picks kernels per
  // CPU (AVX-512 or AVX2), so they agree within the stated tolerance, not bit for bit (on an AVX2
  // host the last loss differed in the 8th digit). Same path, same machine: equal (tests below).
  it('20 compiled steps give the eager losses and weights within the stated tolerance, and count optimizer iterations', () => {
    const eager = train('off', 20);
    const compiled = train('on', 20);
    // Call 1 creates Adam's slots (eager warm-up); calls 2 and 3 are recorded, undone and run
    // by the graph, as is every later call.
    expect(compiled.counts).toEqual({ eager: 0, recorded: 3, compiled: 19 });
    const d = pathDifference(eager, compiled);
    expect(d.lossRelative).toBeLessThanOrEqual(TOLERANCE.lossRelative);
    expect(d.weightAbsolute).toBeLessThanOrEqual(TOLERANCE.weightAbsolute);
    expect(compiled.iterations).toBe(eager.iterations);
  });

  it('runs tfjs\'s Adam update as one ResourceApplyAdam per variable, whose moments match eager\'s within the tolerance', async () => {
    const run = async (mode: CompileMode) => {
      const ops: string[] = [];
      const s = setup(mode, [], undefined, { opTimings: (timings) => ops.push(...timings.map((t) => t.op)) });
      const random = createRng(5);
      for (let i = 0; i < 10; i++) {
        const { x, y } = batch(s.tf, random, 16);
        s.tf.dispose([x, y, s.step.run(x, y).loss]);
      }
      s.compiler.sync();
      const moments = await Promise.all(((await s.optimizer.getWeights()) as { tensor: Tensor }[]).map((w) => w.tensor.data()));
      s.dispose();
      return { ops, moments };
    };
    const compiled = await run('on');
    const eager = await run('off');
    // 4 variables (two kernels, two biases), 9 compiled calls (the first creates Adam's slots).
    expect(compiled.ops.filter((o) => o === 'ResourceApplyAdam')).toHaveLength(4 * 9);
    expect(compiled.ops.filter((o) => o === 'Sqrt')).toHaveLength(9); // only √(1 − β2^t), for ε̂
    expect(compiled.moments.length).toBe(eager.moments.length);
    compiled.moments.forEach((m, i) => m.forEach((value, j) => expect(Math.abs(value - eager.moments[i][j])).toBeLessThanOrEqual(TOLERANCE.weightAbsolute * Math.max(1, Math.abs(eager.moments[i][j])))));
  });

  it('a compiled run repeats itself exactly on one machine', () => {
    const first = train('on', 12);
    const second = train('on', 12);
    expect(second.losses).toEqual(first.losses);
    expect(second.weights).toEqual(first.weights);
  });

  it('traces a smaller last batch on its own, never running it with the full batch\'s graph', () => {
    const sizes = (i: number) => (i % 4 === 3 ? 5 : 16); // like an epoch of 3 full batches and a rest
    const eager = train('off', 16, sizes);
    const compiled = train('on', 16, sizes);
    // Which graph ran which batch: 12 full batches (less the warm-up) and 4 small ones, each by its own graph.
    expect(compiled.byShape).toEqual({ 'float32[16,6] float32[16,1]': 11, 'float32[5,6] float32[5,1]': 4 });
    expect(compiled.counts).toEqual({ eager: 0, recorded: 5, compiled: 15 }); // warm-up + 2 per shape
    const d = pathDifference(eager, compiled);
    expect(d.lossRelative).toBeLessThanOrEqual(TOLERANCE.lossRelative);
    expect(d.weightAbsolute).toBeLessThanOrEqual(TOLERANCE.weightAbsolute);
  });

  it('leaves no tensors behind over many compiled steps', () => {
    const s = setup('on');
    const random = createRng(1);
    const once = () => {
      const { x, y } = batch(s.tf, random, 8);
      s.tf.dispose([x, y, s.step.run(x, y).loss]);
    };
    for (let i = 0; i < 4; i++) once();
    const before = s.tf.memory().numTensors;
    for (let i = 0; i < 50; i++) once();
    s.compiler.sync();
    expect(s.tf.memory().numTensors).toBe(before);
    expect(s.step.counts.compiled).toBe(53);
    s.dispose();
  });

  it('copies weights changed in JavaScript into the session, and refuses a change that would lose the session\'s newer values', () => {
    const s = setup('on');
    const random = createRng(2);
    const fixed = batch(s.tf, random, 8);
    const run = () => {
      const { loss } = s.step.run(fixed.x, fixed.y);
      const value = loss.dataSync()[0];
      loss.dispose();
      return value;
    };
    for (let i = 0; i < 4; i++) run();
    s.compiler.sync();
    const saved = s.model.getWeights().map((w) => w.clone()); // the same data as the variables
    const a = run(); // compiled: the loss before this step's update
    expect(s.step.counts.compiled).toBe(4);
    s.compiler.sync();
    s.model.setWeights(saved); // back to the weights `a` was computed with
    expect(run()).toBe(a);
    // Without sync() the session's newer values and this write would collide: refused.
    s.model.setWeights(saved);
    expect(() => run()).toThrow(/variable .* was changed in JavaScript while the compiled step held newer values; call sync\(\) before changing weights/);
    s.tf.dispose([...saved, fixed.x, fixed.y]);
    s.dispose();
  });

  it('falls back to eager, naming the op, when a value made in JavaScript changes between calls (auto); fails under compile: on', () => {
    const warnings: string[] = [];
    // A learning-rate-like scalar drawn in JavaScript per call: a graph would freeze it.
    const jitter = (tf: LoadedBackend['tf'], loss: () => Tensor) => tf.mul(loss(), Math.random() + 1);
    const auto = setup('auto', warnings, jitter);
    const random = createRng(3);
    for (let i = 0; i < 5; i++) {
      const { x, y } = batch(auto.tf, random, 4);
      auto.tf.dispose([x, y, auto.step.run(x, y).loss]);
    }
    expect(warnings).toEqual([expect.stringMatching(/^test fit step: cannot compile \(a value made in JavaScript changes from step to step \(an input of op Mul\); pass it to the step as an input\); running it eagerly$/)]);
    expect(auto.step.counts).toEqual({ eager: 3, recorded: 2, compiled: 1 });
    auto.dispose();

    const on = setup('on', [], jitter);
    const { x, y } = batch(on.tf, random, 4);
    on.tf.dispose(on.step.run(x, y).loss);
    expect(() => on.step.run(x, y)).toThrow(CompileError);
    on.tf.dispose([x, y]);
    on.dispose();
  });

  it('does not compile a step that reads tensor values in JavaScript (its branches may depend on them)', () => {
    const warnings: string[] = [];
    const branchy = (tf: LoadedBackend['tf'], loss: () => Tensor) => {
      const l = loss();
      return l.dataSync()[0] > 0.5 ? tf.mul(l, 2) : l;
    };
    const s = setup('auto', warnings, branchy);
    const random = createRng(4);
    for (let i = 0; i < 3; i++) {
      const { x, y } = batch(s.tf, random, 4);
      s.tf.dispose([x, y, s.step.run(x, y).loss]);
    }
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/cannot compile \(the step reads a tensor's values in JavaScript \(after op \w+\)/);
    expect(s.step.counts.compiled).toBe(0);
    s.dispose();
  });

  it('refuses to record a step that reads one of two variables on one buffer (it could not tell which), and records the same step when each has its own copy', () => {
    const { tf } = backend;
    const run = (copy: boolean) => {
      const warnings: string[] = [];
      const weight = tf.variable(tf.tensor1d([1, 2, 3]), true, `weight-${copy}`);
      // A moving average of the weight, made as people write it (tf.variable(x.clone()) shares x's buffer) or with ownCopy.
      const average = tf.tidy(() => tf.variable(copy ? ownCopy(tf, weight) : weight.clone(), false, `average-${copy}`));
      const compiler = new Compiler(tf as never, { mode: 'auto', owner: 'test', warn: (w) => warnings.push(w) });
      const step = compiler.step('average step', (x: Tensor) => {
        weight.assign(tf.add(weight, x));
        average.assign(tf.add(tf.mul(average, 0.5), tf.mul(weight, 0.5)));
        return { sum: tf.sum(weight) };
      });
      for (let i = 0; i < 4; i++) {
        const x = tf.tensor1d([1, 1, 1]);
        tf.dispose([x, step.run(x).sum]);
      }
      compiler.sync();
      const out = { warnings, counts: { ...step.counts }, weight: Array.from(weight.dataSync()), average: Array.from(average.dataSync()) };
      compiler.dispose();
      tf.dispose([weight, average]);
      return out;
    };
    const shared = run(false);
    expect(shared.warnings).toEqual(['test average step: cannot compile (variables weight-false and average-false share one buffer (one was made or assigned from the other without a copy), so a recording cannot tell which the step reads; give each its own copy (ownCopy)); running it eagerly']);
    expect(shared.counts.compiled).toBe(0);
    const own = run(true);
    expect(own.warnings).toEqual([]);
    expect(own.counts.compiled).toBe(4);
    // Both ran the same arithmetic: weight 1..3 + 4, average halfway towards it each step.
    expect(own.weight).toEqual([5, 6, 7]);
    expect(own.average).toEqual(shared.average);
    expect(own.average).toEqual([4.0625, 5.0625, 6.0625]);
  });

  it('works on this machine (the doctor\'s probe), XLA included', () => {
    expect(probeCompiledPath(backend.tf as never)).toMatchObject({ ok: true, tensorflow: backend.tensorflowVersion });
    expect(probeCompiledPath(backend.tf as never, { xla: true })).toMatchObject({ ok: true });
  });
});

describe('compile: auto, choosing the fastest path', () => {
  const folder = () => fs.mkdtempSync(path.join(os.tmpdir(), 'synthmix-choices-'));
  const shape = 'float32[16,6] float32[16,1]';

  it('takes the fastest path, keeping the compiled one unless another is at least 10 % faster', () => {
    expect(fastestPath({ compiled: 100, xla: 95, eager: 120 })).toBe('compiled');
    expect(fastestPath({ compiled: 100, xla: 80, eager: 120 })).toBe('xla');
    expect(fastestPath({ compiled: 100, xla: 80, eager: 50 })).toBe('eager');
    expect(fastestPath({ xla: 5, eager: 3 })).toBe('eager');
    expect(() => fastestPath({})).toThrow(/no path was measured/);
  });

  it('measures each path once per machine and shape, puts the state back, and a later run recalls the choice and repeats the run exactly', () => {
    const file = path.join(folder(), 'compile-choices.json');
    const told: { remembered: boolean; path: string }[] = [];
    const measuring: string[][] = [];
    const options = { choices: file, trialFromMs: 0, chosen: (c: { remembered: boolean; path: string }) => told.push({ remembered: c.remembered, path: c.path }), measuring: (m: { paths: string[] }) => measuring.push(m.paths) };
    const measured = train('auto', 10, undefined, options);
    expect(measuring).toEqual([['compiled', 'xla', 'eager']]);
    const stored = [...readChoices(file).values()];
    expect(stored).toHaveLength(1);
    const [choice] = stored;
    expect(choice).toMatchObject({ owner: 'test', step: 'fit step', shape, path: measured.choice[shape].path });
    expect(Object.keys(choice.msPerStep).sort()).toEqual(['compiled', 'eager', 'xla']);
    expect(Object.values(choice.msPerStep).every((ms) => ms! > 0)).toBe(true);
    expect(told).toEqual([{ remembered: false, path: choice.path }]);
    // The timed steps were undone: the optimizer counted the run's 10 steps, no more.
    expect(measured.iterations).toBe(10);

    const recalled = train('auto', 10, undefined, options);
    expect(measuring).toHaveLength(1); // not measured again
    expect(told[1]).toEqual({ remembered: true, path: choice.path });
    expect(recalled.losses).toEqual(measured.losses);
    expect(recalled.weights).toEqual(measured.weights);
    // Whatever it chose, the run agrees with the plain compiled one within the stated tolerance.
    const d = pathDifference(train('on', 10), measured);
    expect(d.lossRelative).toBeLessThanOrEqual(TOLERANCE.lossRelative);
    expect(d.weightAbsolute).toBeLessThanOrEqual(TOLERANCE.weightAbsolute);
  });

  it('each remembered path runs that path: compiled + XLA and eager', () => {
    for (const chosen of ['xla', 'eager'] as const) {
      const file = path.join(folder(), 'compile-choices.json');
      train('auto', 4, undefined, { choices: file, trialFromMs: 0 });
      const [[key, entry]] = [...readChoices(file)];
      fs.writeFileSync(file, JSON.stringify({ version: 1, choices: { [key]: { ...entry, path: chosen } } }));
      const run = train('auto', 8, undefined, { choices: file, trialFromMs: 0 });
      expect(run.choice[shape].path).toBe(chosen);
      // Warm-up, then the chosen path from the first recorded call on (eager: no second recording).
      expect(run.counts).toEqual(chosen === 'eager' ? { eager: 7, recorded: 2, compiled: 0 } : { eager: 0, recorded: 3, compiled: 7 });
      const d = pathDifference(train('on', 8), run);
      expect(d.lossRelative).toBeLessThanOrEqual(TOLERANCE.lossRelative);
      expect(d.weightAbsolute).toBeLessThanOrEqual(TOLERANCE.weightAbsolute);
    }
  });

  it('keeps to the allowed paths: xla: false never measures XLA', () => {
    const paths: string[][] = [];
    train('auto', 4, undefined, { choices: path.join(folder(), 'c.json'), trialFromMs: 0, xla: false, measuring: (m) => paths.push(m.paths) });
    expect(paths).toEqual([['compiled', 'eager']]);
  });

  it('does not measure without a choice file, under compile: on, or a step quicker than trialFromMs', () => {
    const paths: string[][] = [];
    const plain = train('auto', 6, undefined, { trialFromMs: 0, measuring: (m) => paths.push(m.paths) });
    train('on', 6, undefined, { choices: path.join(folder(), 'c.json'), trialFromMs: 0, measuring: (m) => paths.push(m.paths) });
    const quick = path.join(folder(), 'c.json');
    const unmeasured = train('auto', 6, undefined, { choices: quick, trialFromMs: 60_000, measuring: (m) => paths.push(m.paths) });
    expect(paths).toEqual([]);
    expect(fs.existsSync(quick)).toBe(false);
    // The one call timed to find it quick was undone: the run is the plain compiled one, bit for bit.
    const compiled = train('on', 6);
    expect(unmeasured.losses).toEqual(compiled.losses);
    expect(unmeasured.weights).toEqual(compiled.weights);
    expect(unmeasured.iterations).toBe(6);
    expect(plain.counts).toEqual({ eager: 0, recorded: 3, compiled: 5 });
  });

  it('reads a damaged choice file as empty and rewrites it', () => {
    const file = path.join(folder(), 'compile-choices.json');
    fs.writeFileSync(file, '{"version":1,"choices":{"x":');
    const warnings: string[] = [];
    train('auto', 4, undefined, { choices: file, trialFromMs: 0 }, warnings);
    expect(warnings).toEqual([]);
    expect(readChoices(file).size).toBe(1);
  });

  it('a choice file that cannot be written costs a warning, not the run', () => {
    const dir = folder();
    fs.writeFileSync(path.join(dir, 'not-a-folder'), '');
    const file = path.join(dir, 'not-a-folder', 'compile-choices.json');
    const warnings: string[] = [];
    const run = train('auto', 6, undefined, { choices: file, trialFromMs: 0 }, warnings);
    expect(warnings).toEqual([expect.stringMatching(/^test fit step: could not remember the measured path in .*not-a-folder\/compile-choices\.json \(.*(ENOTDIR|EEXIST).*\); the next run measures again$/)]);
    expect(run.losses).toHaveLength(6);
  });

  it('leaves no tensors behind when it measures', () => {
    const s = setup('auto', [], undefined, { choices: path.join(folder(), 'c.json'), trialFromMs: 0 });
    const random = createRng(1);
    const once = () => {
      const { x, y } = batch(s.tf, random, 16);
      s.tf.dispose([x, y, s.step.run(x, y).loss]);
    };
    once(); // warm-up: Adam's slots
    const before = s.tf.memory().numTensors;
    for (let i = 0; i < 4; i++) once(); // recorded, measured, compiled
    s.compiler.sync();
    expect(s.step.choice.size).toBe(1);
    expect(s.tf.memory().numTensors).toBe(before);
    s.dispose();
  });
});
