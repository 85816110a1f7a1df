import { beforeAll, describe, expect, it } from 'vitest';
import { loadBackend, type TF } from '@synthmix/core';
import { Compiler } from '@synthmix/compile';
import { batchNormalization, fusedBatchNormTraining, fusedRelu, relu } from './fused-layers.js';

let tf: TF;
beforeAll(async () => {
  tf = (await loadBackend('tensorflow')).tf;
});

type Tensor = ReturnType<TF['tensor']>;
type Layer = ReturnType<TF['layers']['batchNormalization']>;

const largestGap = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  expect(a.length).toBe(b.length);
  let gap = 0;
  for (let i = 0; i < a.length; i++) gap = Math.max(gap, Math.abs(a[i] - b[i]));
  return gap;
};

/**
 * A layer's output, its gradients (input and weights) of a weighted sum of the output, and its
 * weights after three training passes (the moving averages of batch norm).
 */
function exercise(layer: Layer, x: Tensor, shape: number[]) {
  return tf.tidy(() => {
    layer.build([null, ...shape.slice(1)]);
    const w = tf.randomNormal(shape, 0, 1, 'float32', 2);
    const loss = (input: Tensor) => tf.sum(tf.mul(layer.apply(input, { training: true }) as Tensor, w)) as ReturnType<TF['scalar']>;
    const weights = layer.trainableWeights.map((v) => v.read() as unknown as ReturnType<TF['variable']>);
    const grads = weights.length ? tf.variableGrads(() => loss(x), weights).grads : {};
    const dx = tf.grad(loss)(x);
    const y = layer.apply(x, { training: true }) as Tensor;
    return { y: y.dataSync(), dx: dx.dataSync(), grads: weights.map((v) => grads[v.name].dataSync()), weights: layer.getWeights().map((t) => t.dataSync()), inference: (layer.apply(x, { training: false }) as Tensor).dataSync() };
  });
}

const BN = (seed: number) => ({ momentum: 0.9, epsilon: 1e-5, gammaInitializer: tf.initializers.randomNormal({ mean: 1, stddev: 0.2, seed }), betaInitializer: tf.initializers.randomNormal({ mean: 0, stddev: 0.2, seed: seed + 1 }) });

describe('fused training layers give what tfjs\'s layers give (float32 rounding)', () => {
  it('batch norm: output, input and weight gradients, moving mean and variance, inference', () => {
    for (const shape of [[8, 6, 6, 5], [16, 4, 4, 32], [2, 1, 1, 3]]) {
      const x = tf.randomNormal(shape, 0.3, 2, 'float32', 1);
      const theirs = exercise(tf.layers.batchNormalization(BN(3)), x, shape);
      const ours = exercise(batchNormalization(tf, BN(3)), x, shape);
      expect(largestGap(ours.y, theirs.y), `y ${shape}`).toBeLessThan(1e-5);
      expect(largestGap(ours.dx, theirs.dx), `dx ${shape}`).toBeLessThan(1e-5);
      // γ and β gradients sum over n·h·w values of magnitude ~1: relative 1e-6.
      ours.grads.forEach((g, i) => expect(largestGap(g, theirs.grads[i]) / Math.max(1, ...Array.from(theirs.grads[i], Math.abs)), `grad ${i} ${shape}`).toBeLessThan(1e-5));
      ours.weights.forEach((w, i) => expect(largestGap(w, theirs.weights[i]), `weight ${i} ${shape}`).toBeLessThan(1e-5));
      expect(largestGap(ours.inference, theirs.inference)).toBeLessThan(1e-5);
      x.dispose();
    }
  });

  it('ReLU and leaky ReLU: output and input gradient, zeros included', () => {
    const shape = [4, 5, 5, 3];
    const x = tf.tidy(() => tf.randomNormal(shape, 0, 1, 'float32', 4).round().div(2)); // many exact zeros
    for (const alpha of [0, 0.2]) {
      const theirs = exercise((alpha === 0 ? tf.layers.reLU() : tf.layers.leakyReLU({ alpha })) as unknown as Layer, x, shape);
      const ours = exercise(relu(tf, alpha) as unknown as Layer, x, shape);
      expect(largestGap(ours.y, theirs.y)).toBe(0);
      expect(largestGap(ours.dx, theirs.dx), `alpha ${alpha}`).toBe(0);
    }
    x.dispose();
  });

  it('runs TensorFlow\'s fused ops (what a compiled step records), and leaves no tensor behind', () => {
    const x = tf.randomNormal([4, 3, 3, 2], 0, 1, 'float32', 5);
    const [gamma, beta] = [tf.ones([2]), tf.zeros([2])];
    const useFused = () =>
      tf.tidy(() => {
        let seen: number[][] = [];
        fusedBatchNormTraining(tf, x, gamma, beta, 1e-3, (mean, variance) => (seen = [mean.shape, variance.shape]));
        expect(seen).toEqual([[2], [2]]);
        tf.grads((a: Tensor, b: Tensor, c: Tensor) => tf.sum(fusedBatchNormTraining(tf, a, b, c, 1e-3, () => {})!))([x, gamma, beta]);
        tf.grad((a: Tensor) => tf.sum(fusedRelu(tf, a, 0.2)!))(x);
      });
    const model = tf.sequential({ layers: [tf.layers.inputLayer({ inputShape: [3, 3, 2] }), batchNormalization(tf, BN(1)), relu(tf), relu(tf, 0.2)] });
    const train = () => tf.tidy(() => void tf.variableGrads(() => tf.sum(model.apply(x, { training: true }) as Tensor) as ReturnType<TF['scalar']>));
    // The first calls create what stays (the layers' weights, tfjs's cached scalars); later ones add nothing.
    useFused();
    train();
    const settled = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      useFused();
      train();
    }
    expect(tf.memory().numTensors).toBe(settled);
    model.dispose();
    tf.dispose([x, gamma, beta]);
  });

  it('a compiled step records FusedBatchNormV3, its gradient and LeakyReluGrad, not the op-by-op forms', () => {
    const compiler = new Compiler(tf, { mode: 'on', owner: 'test', opTimings: (timings) => ops.push(...timings.map((t) => t.op)) });
    const ops: string[] = [];
    const model = tf.sequential({ layers: [tf.layers.conv2d({ inputShape: [6, 6, 2], filters: 4, kernelSize: 3, padding: 'same' }), batchNormalization(tf, BN(1)), relu(tf, 0.2)] });
    const optimizer = tf.train.adam(1e-3);
    const step = compiler.step('step', (x: Tensor) => {
      const { value, grads } = tf.variableGrads(() => tf.mean(tf.square(model.apply(x, { training: true }) as Tensor)) as ReturnType<TF['scalar']>);
      optimizer.applyGradients(grads);
      tf.dispose(Object.values(grads));
      return { loss: value };
    });
    const x = tf.randomNormal([4, 6, 6, 2], 0, 1, 'float32', 6);
    for (let i = 0; i < 4; i++) tf.dispose(Object.values(step.run(x)));
    expect(step.counts.compiled).toBeGreaterThan(0);
    expect(ops.some((o) => /FusedBatchNormV3$/.test(o))).toBe(true);
    expect(ops.some((o) => /FusedBatchNormGradV3$/.test(o))).toBe(true);
    expect(ops.some((o) => /LeakyReluGrad$/.test(o))).toBe(true);
    expect(ops.filter((o) => o === 'Select' || o === 'IsNan')).toEqual([]);
    compiler.dispose();
    model.dispose();
    optimizer.dispose();
    x.dispose();
  });
});
