import { beforeAll, describe, expect, it } from 'vitest';
import { loadBackend, type LoadedBackend } from '@synthmix/core';
import { findAdamUpdates } from './fuse-adam.js';
import { recordStep, type TF } from './trace.js';

let tf: TF;
beforeAll(async () => {
  tf = (await loadBackend('tensorflow')).tf as unknown as TF;
});

type Tensor = ReturnType<LoadedBackend['tf']['tensor']>;

/** Records the second call of a dense step `x·w + b` with `optimizer` (the first creates its slots). */
function recordDense(optimizer: ReturnType<TF['train']['adam']> | ReturnType<TF['train']['sgd']>, extra: (o: typeof optimizer, weights: { w: Tensor; b: Tensor }) => Record<string, Tensor> = () => ({})) {
  const w = tf.variable(tf.randomNormal([3, 2], 0, 1, 'float32', 1), true);
  const b = tf.variable(tf.zeros([2]), true);
  const x = tf.randomNormal([4, 3], 0, 1, 'float32', 2);
  const step = (input: Tensor) => ({ loss: optimizer.minimize(() => tf.sum(tf.add(tf.matMul(input as never, w), b)), true, [w, b])!, ...extra(optimizer, { w: w as never, b: b as never }) }) as Record<string, Tensor>;
  tf.dispose(tf.tidy(() => step(x)));
  const { result, trace } = recordStep(tf, step, [x]);
  const names = trace.variables.map((v) => v.variable);
  tf.dispose([...Object.values(result), x, w, b]);
  optimizer.dispose();
  return { trace, index: (v: unknown) => names.indexOf(v as never), w, b };
}

describe('finding tfjs\'s Adam update in a recording', () => {
  it('finds one update per variable with tfjs\'s learning rate, betas and epsilon', () => {
    const { trace, index, w, b } = recordDense(tf.train.adam(0.02, 0.5, 0.99, 1e-6));
    const { updates, assigned } = findAdamUpdates(trace);
    expect(updates.map((u) => u.value).sort()).toEqual([index(w), index(b)].sort());
    for (const u of updates) {
      expect(u.learningRate).toBeCloseTo(0.02, 7);
      expect(u.beta1).toBe(0.5);
      expect(u.beta2).toBe(Math.fround(0.99));
      expect(u.epsilon).toBe(Math.fround(1e-6));
      expect(new Set([u.value, u.m, u.v, u.beta1PowerVariable, u.beta2PowerVariable]).size).toBe(5);
    }
    // Both variables and their four moments; the accumulators β^t keep their own assigns.
    expect(assigned.size).toBe(6);
    expect(trace.assigns.filter((a) => !assigned.has(a.variable))).toHaveLength(2);
  });

  it('leaves an update alone when one of its intermediates is used elsewhere (here: a new moment used by an output)', () => {
    const { trace, index, b } = recordDense(tf.train.adam(0.02), (o) => {
      // After minimize, the first variable's first-moment slot holds the step's new moment.
      const m = (o as unknown as { accumulatedFirstMoment: { variable: Tensor }[] }).accumulatedFirstMoment[0].variable;
      return { firstMoment: tf.mul(m, 2) as Tensor };
    });
    const { updates, replaced } = findAdamUpdates(trace);
    expect(updates.map((u) => u.value)).toEqual([index(b)]);
    // The new moment the output reads is still written to the graph.
    const output = trace.outputs.find((o) => o.name === 'firstMoment')!.ref as { node: number };
    const moment = trace.ops[output.node].inputs[0] as { kind: string; node: number };
    expect(moment.kind).toBe('op');
    expect(replaced.has(moment.node)).toBe(false);
  });

  it('fuses an update whose new value also feeds another op (an EMA of the weights reads it)', () => {
    const { trace, index, w } = recordDense(tf.train.adam(0.02), (_, weights) => ({ average: tf.mul(weights.w as never, 0.5) as Tensor }));
    const { updates } = findAdamUpdates(trace);
    expect(updates).toHaveLength(2);
    const output = trace.outputs.find((o) => o.name === 'average')!.ref as { node: number };
    expect(trace.ops[output.node].inputs[0]).toEqual({ kind: 'op', node: updates.find((u) => u.value === index(w))!.newValue, index: 0 });
  });

  it('finds nothing in another optimizer\'s update', () => {
    expect(findAdamUpdates(recordDense(tf.train.sgd(0.1)).trace).updates).toEqual([]);
    expect(findAdamUpdates(recordDense(tf.train.rmsprop(0.1)).trace).updates).toEqual([]);
  });
});
