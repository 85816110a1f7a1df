/**
 * Classifier plugin `cnn-tumor`: the custom CNN of "Proportional Sensitivity in GAN-Augmented
 * Brain Tumor Classification" (three 3×3 conv blocks, dense 128, dropout, sigmoid/softmax).
 */
import type { ClassifierPlugin, ImageSet, PluginContext, TF, TrainedClassifier } from '@synthmix/core';
import { packageVersion, createRng, deriveSeed, imageRows, shuffled } from '@synthmix/core';
import { Compiler } from '@synthmix/compile';
import { buildClassifier } from './model.js';
import { buildEvalStep, buildPredictStep, buildTrainStep, dropoutMask } from './train.js';

const VERSION = packageVersion(import.meta.url);

export { buildClassifier } from './model.js';
export { buildEvalStep, buildPredictStep, buildTrainStep, dropoutMask } from './train.js';

export interface CnnOptions {
  epochs: number;
  batchSize: number;
  learningRate: number;
  filters: number[];
  denseUnits: number;
  dropout: number;
  earlyStopping: { enabled: boolean; patience: number };
  classWeights: 'none' | 'balanced';
}

export const optionsSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    epochs: { type: 'integer', minimum: 1, default: 10, description: 'Maximum training epochs.' },
    batchSize: { type: 'integer', minimum: 1, default: 32 },
    learningRate: { type: 'number', exclusiveMinimum: 0, default: 0.001, description: 'Adam learning rate.' },
    filters: { type: 'array', items: { type: 'integer', minimum: 1 }, minItems: 1, default: [32, 64, 128], description: 'Filters of each 3×3 conv block.' },
    denseUnits: { type: 'integer', minimum: 1, default: 128 },
    dropout: { type: 'number', minimum: 0, maximum: 0.95, default: 0.5 },
    earlyStopping: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        enabled: { type: 'boolean', default: true },
        patience: { type: 'integer', minimum: 1, default: 3, description: 'Epochs without a lower validation loss before stopping; the best weights are restored.' },
      },
    },
    classWeights: { enum: ['none', 'balanced'], default: 'none' },
  },
} as const;

/** Targets of a set: [n, 1] labels (two classes) or [n, k] one-hot; `dim` is 1 or k. */
function targets(set: ImageSet): { values: Float32Array; dim: number } {
  const k = set.classNames.length;
  const dim = k === 2 ? 1 : k;
  const values = new Float32Array(set.count * dim);
  set.labels.forEach((l, i) => (k === 2 ? (values[i] = l) : (values[i * dim + l] = 1)));
  return { values, dim };
}

/** Rows `idx` of a row-major [n, rowSize] array. */
function rows(values: Float32Array, rowSize: number, idx: number[]): Float32Array {
  const out = new Float32Array(idx.length * rowSize);
  idx.forEach((r, i) => out.set(values.subarray(r * rowSize, (r + 1) * rowSize), i * rowSize));
  return out;
}

/** Batches of a set in order: x [b, h, w, c], y [b, dim]. */
function* batches(tf: TF, set: ImageSet, y: { values: Float32Array; dim: number }, order: number[], size: number) {
  for (let start = 0; start < order.length; start += size) {
    const idx = order.slice(start, start + size);
    yield {
      idx,
      x: tf.tensor4d(imageRows(set, idx), [idx.length, set.height, set.width, set.channels]),
      y: tf.tensor2d(rows(y.values, y.dim, idx), [idx.length, y.dim]),
    };
  }
}

/** Mean loss and accuracy of a set, batch by batch through the (compiled) validation step. */
function evaluate(tf: TF, step: ReturnType<typeof buildEvalStep>, set: ImageSet, batchSize: number) {
  const y = targets(set);
  let loss = 0;
  let correct = 0;
  for (const b of batches(tf, set, y, Array.from({ length: set.count }, (_, i) => i), batchSize)) {
    const r = step.run(b.x, b.y);
    loss += r.lossSum.dataSync()[0];
    correct += r.correct.dataSync()[0];
    tf.dispose([b.x, b.y, r.lossSum, r.correct]);
  }
  return { loss: loss / set.count, accuracy: correct / set.count };
}

const compilerFor = (tf: TF, ctx: Pick<PluginContext, 'warn' | 'compile'>) => new Compiler(tf, { mode: 'auto', ...ctx.compile, owner: 'synthmix:cnn-tumor', warn: ctx.warn });

export default function cnnTumor(): ClassifierPlugin<CnnOptions> {
  return {
    kind: 'classifier',
    name: 'synthmix:cnn-tumor',
    version: VERSION,
    description: 'The paper\'s small CNN: conv 32/64/128 with max-pool, dense 128, dropout, sigmoid (softmax for >2 classes).',
    optionsSchema: optionsSchema as unknown as Record<string, unknown>,
    load: (dir, classes, tf) => loadClassifier(tf, dir, classes),
    async fit(train, val, options, ctx): Promise<TrainedClassifier> {
      const { tf } = ctx;
      const k = train.classNames.length;
      const binary = k === 2;
      const model = buildClassifier(tf, { inputShape: [train.height, train.width, train.channels], classes: k, filters: options.filters, denseUnits: options.denseUnits, dropout: options.dropout, seed: ctx.seed });
      const optimizer = tf.train.adam(options.learningRate);
      const compiler = compilerFor(tf, ctx);
      const trainStep = buildTrainStep(tf, compiler, model, optimizer, binary);
      const evalStep = buildEvalStep(tf, compiler, model, binary);
      const y = targets(train);
      const classWeight = train.classNames.map((_, c) => (options.classWeights === 'balanced' ? train.count / (k * Math.max(1, train.labels.filter((l) => l === c).length)) : 1));
      const random = createRng(ctx.seed);
      const dropoutRandom = createRng(deriveSeed(ctx.seed, 'cnn-tumor-dropout'));
      let best = { loss: Infinity, epoch: 0, weights: undefined as ReturnType<typeof model.getWeights> | undefined };
      try {
        for (let epoch = 1; epoch <= options.epochs; epoch++) {
          if (ctx.signal.aborted) break;
          // Our own seeded shuffle (tf's fit shuffles with Math.random, which breaks reproducibility).
          const order = shuffled(Array.from({ length: train.count }, (_, i) => i), random);
          let lossSum = 0;
          let correct = 0;
          for (const b of batches(tf, train, y, order, options.batchSize)) {
            const mask = tf.tensor2d(dropoutMask(dropoutRandom, b.idx.length * options.denseUnits, options.dropout), [b.idx.length, options.denseUnits]);
            const weights = tf.tensor1d(b.idx.map((i) => classWeight[train.labels[i]]));
            const r = trainStep.run(b.x, b.y, mask, weights);
            lossSum += r.loss.dataSync()[0] * b.idx.length;
            correct += r.correct.dataSync()[0];
            tf.dispose([b.x, b.y, mask, weights, r.loss, r.correct]);
            await new Promise<void>((resolve) => setImmediate(resolve));
          }
          const v = evaluate(tf, evalStep, val, 128);
          const metrics = { loss: lossSum / train.count, accuracy: correct / train.count, val_loss: v.loss, val_accuracy: v.accuracy };
          await ctx.progress({ step: epoch, total: options.epochs, unit: 'epoch', metrics });
          if (metrics.val_loss < best.loss) {
            compiler.sync();
            best.weights?.forEach((w) => w.dispose());
            best = { loss: metrics.val_loss, epoch, weights: model.getWeights().map((w) => w.clone()) };
          } else if (options.earlyStopping.enabled && epoch - best.epoch >= options.earlyStopping.patience) {
            break;
          }
        }
        compiler.dispose();
        if (best.weights) model.setWeights(best.weights);
      } finally {
        compiler.dispose();
        best.weights?.forEach((w) => w.dispose());
        // model.dispose() leaves the optimizer's slot variables (Adam moments) alive.
        optimizer.dispose();
      }
      return trainedClassifier(tf, model, k, ctx);
    },
  };
}

type LayersModel = ReturnType<typeof buildClassifier> | Awaited<ReturnType<TF['loadLayersModel']>>;

/** Wraps a tf model as a {@link TrainedClassifier}; also used after reloading a saved model. */
export function trainedClassifier(tf: TF, model: LayersModel, k: number, ctx: Pick<PluginContext, 'warn' | 'compile'> = { warn: () => {} }): TrainedClassifier {
  let compiler: Compiler | undefined;
  let predictStep: ReturnType<typeof buildPredictStep> | undefined;
  return {
    async predict(images) {
      // [n, h, w, c] → [n, 1] sigmoid (→ [1 − p, p]) or [n, k] softmax, 128 images per step
      compiler ??= compilerFor(tf, ctx);
      predictStep ??= buildPredictStep(tf, compiler, model);
      const out = new Float32Array(images.count * k);
      for (let start = 0; start < images.count; start += 128) {
        const n = Math.min(128, images.count - start);
        const x = tf.tensor4d(imageRows(images, Array.from({ length: n }, (_, i) => start + i)), [n, images.height, images.width, images.channels]);
        const { p } = predictStep.run(x);
        const probs = p.dataSync();
        for (let i = 0; i < n; i++) {
          if (k === 2) out.set([1 - probs[i], probs[i]], (start + i) * 2);
          else out.set(probs.subarray(i * k, (i + 1) * k), (start + i) * k);
        }
        tf.dispose([x, p]);
      }
      return out;
    },
    async embed(images) {
      // The dense layer before dropout and the output: [n, denseUnits].
      const hidden = model.layers[model.layers.length - 3];
      const features = tf.model({ inputs: model.inputs, outputs: hidden.output as never });
      const out = tf.tidy(() => features.predict(tf.tensor4d(images.images, [images.count, images.height, images.width, images.channels]), { batchSize: 128 }) as ReturnType<TF['tensor2d']>);
      const dim = out.shape[1]!;
      const data = (await out.data()) as Float32Array;
      out.dispose();
      return { features: data, dim };
    },
    async explain(images, classIndex) {
      return gradCam(tf, model, images, classIndex, k);
    },
    async save(dir) {
      await model.save(`file://${dir}`);
      return dir;
    },
    dispose() {
      compiler?.dispose();
      model.dispose();
    },
  };
}

/** Reloads a model written by `save`. */
export async function loadClassifier(tf: TF, dir: string, classes: number): Promise<TrainedClassifier> {
  return trainedClassifier(tf, await tf.loadLayersModel(`file://${dir}/model.json`), classes);
}

/**
 * Grad-CAM (Selvaraju et al., 2017) on the last convolution: the gradient of the class score
 * with respect to that layer's feature maps, averaged over space, weighs the maps; their ReLU,
 * scaled to [0, 1] per image and resized to the input, is where the model looks for that class.
 */
export async function gradCam(tf: TF, model: LayersModel, images: ImageSet, classIndex: number, k: number): Promise<Float32Array> {
  const layers = model.layers;
  const last = layers.map((l) => l.getClassName()).lastIndexOf('Conv2D');
  if (last < 0) throw new Error('Grad-CAM needs a convolution layer');
  const convModel = tf.model({ inputs: model.inputs, outputs: layers[last].output as never });
  const maps = tf.tidy(() => {
    // [n, h, w, c] → conv features A [n, h', w', f]
    const x = tf.tensor4d(images.images, [images.count, images.height, images.width, images.channels]);
    const features = convModel.predict(x) as ReturnType<TF['tensor4d']>;
    const score = (a: ReturnType<TF['tensor']>) => {
      let t: ReturnType<TF['tensor']> = a;
      for (const layer of layers.slice(last + 1)) t = layer.apply(t, { training: false }) as ReturnType<TF['tensor']>;
      // Binary: sigmoid p of class 1, so class 0's score is 1 − p; else the softmax column.
      const p = t as ReturnType<TF['tensor2d']>;
      const column = k === 2 ? (classIndex === 1 ? p : tf.sub(1, p)) : tf.slice(p, [0, classIndex], [-1, 1]);
      return tf.sum(column);
    };
    const grads = tf.grad(score)(features) as ReturnType<TF['tensor4d']>; // [n, h', w', f]
    const weights = tf.mean(grads, [1, 2], true); // [n, 1, 1, f]
    const cam = tf.relu(tf.sum(tf.mul(features, weights), 3, true)); // [n, h', w', 1]
    const peak = tf.add(tf.max(cam, [1, 2, 3], true), 1e-8);
    const resized = tf.image.resizeBilinear(tf.div(cam, peak) as ReturnType<TF['tensor4d']>, [images.height, images.width]);
    return tf.reshape(resized, [images.count, images.height, images.width]);
  });
  const data = (await maps.data()) as Float32Array;
  maps.dispose();
  return data;
}
