/**
 * The classifier's training, evaluation and prediction steps, written as step functions of
 * tensors so @synthmix/compile can run them as TensorFlow graphs (and eagerly when it cannot).
 * Everything random (the shuffle, the dropout masks) is drawn in JavaScript from the run's
 * seed and passed in, so the compiled and the eager path see the same numbers.
 */
import type { TF } from '@synthmix/core';
import { optimizerHooks, type Compiler } from '@synthmix/compile';
import type { buildClassifier } from './model.js';

type Tensor = ReturnType<TF['tensor']>;
type Model = ReturnType<typeof buildClassifier> | Awaited<ReturnType<TF['loadLayersModel']>>;
type Optimizer = ReturnType<TF['train']['adam']>;

/** The model's output with the dropout layer replaced by a given multiplier mask. */
function forward(tf: TF, model: Model, x: Tensor, dropoutMask?: Tensor): Tensor {
  // x: [b, h, w, c] → conv/pool blocks → [b, 8192] → dense [b, 128] → ×mask → [b, 1 | k]
  let t = x;
  for (const layer of model.layers) {
    if (layer.getClassName() === 'Dropout') {
      if (dropoutMask) t = tf.mul(t, dropoutMask);
      continue;
    }
    t = layer.apply(t) as Tensor;
  }
  return t;
}

/** Per-image loss, as Keras computes it on probabilities (clipped, then cross-entropy). */
function perImageLoss(tf: TF, y: Tensor, p: Tensor, binary: boolean): Tensor {
  return binary ? tf.metrics.binaryCrossentropy(y, p) : tf.metrics.categoricalCrossentropy(y, p); // [b]
}

/** Per-image correctness (1 or 0): threshold 0.5 for one sigmoid unit, arg-max otherwise. */
function perImageCorrect(tf: TF, y: Tensor, p: Tensor, binary: boolean): Tensor {
  return binary ? tf.cast(tf.equal(tf.greaterEqual(p, 0.5).reshape([-1]), tf.greaterEqual(y, 0.5).reshape([-1])), 'float32') : tf.cast(tf.equal(tf.argMax(p, -1), tf.argMax(y, -1)), 'float32'); // [b]
}

/**
 * One Adam step on a batch. x [b, h, w, c]; y [b, 1] or [b, k]; dropoutMask [b, dense] (0 or
 * 1/(1 − rate)); weights [b] (class weights, 1 without). Returns the batch's mean loss and the
 * number of correct images (before the update, as Keras reports them).
 */
export function buildTrainStep(tf: TF, compiler: Compiler, model: Model, optimizer: Optimizer, binary: boolean) {
  const variables = model.trainableWeights.map((w) => w.read() as unknown as ReturnType<TF['variable']>);
  return compiler.step('train step', (x: Tensor, y: Tensor, dropoutMask: Tensor, weights: Tensor) => {
    let correct: Tensor | undefined;
    const loss = optimizer.minimize(() => {
      const p = forward(tf, model, x, dropoutMask);
      correct = tf.keep(tf.sum(perImageCorrect(tf, y, p, binary)));
      return tf.mean(tf.mul(perImageLoss(tf, y, p, binary), weights)) as ReturnType<TF['scalar']>;
    }, true, variables)!;
    return { loss, correct: correct! };
  }, optimizerHooks(optimizer));
}

/** Loss sum and correct count of a batch, without dropout. x [b, h, w, c]; y [b, 1 | k]. */
export function buildEvalStep(tf: TF, compiler: Compiler, model: Model, binary: boolean) {
  return compiler.step('validation step', (x: Tensor, y: Tensor) => {
    const p = forward(tf, model, x);
    return { lossSum: tf.sum(perImageLoss(tf, y, p, binary)), correct: tf.sum(perImageCorrect(tf, y, p, binary)) };
  });
}

/** Class probabilities of a batch: x [b, h, w, c] → [b, 1] sigmoid or [b, k] softmax. */
export function buildPredictStep(tf: TF, compiler: Compiler, model: Model) {
  return compiler.step('predict step', (x: Tensor) => ({ p: forward(tf, model, x) }));
}

/** Dropout multipliers for a batch from a seeded stream: 0 with probability `rate`, else 1/(1 − rate). */
export function dropoutMask(random: () => number, count: number, rate: number): Float32Array {
  const mask = new Float32Array(count);
  const keep = 1 / (1 - rate);
  for (let i = 0; i < count; i++) mask[i] = random() >= rate ? keep : 0;
  return mask;
}
