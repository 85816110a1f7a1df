/**
 * Classifier plugin `cnn-tumor`: the custom CNN of "Proportional Sensitivity in GAN-Augmented
 * Brain Tumor Classification" (three 3×3 conv blocks, dense 128, dropout, sigmoid/softmax).
 */
import type { ClassifierPlugin, ImageSet, TF, TrainedClassifier } from '@synthmix/core';
import { createRng, shuffled } from '@synthmix/core';
import { buildClassifier } from './model.js';

export { buildClassifier } from './model.js';

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

function toTensors(tf: TF, set: ImageSet) {
  // x: [n, h, w, c]; y: [n, 1] (binary) or [n, k] one-hot
  const x = tf.tensor4d(set.images, [set.count, set.height, set.width, set.channels]);
  const k = set.classNames.length;
  const y = k === 2 ? tf.tensor2d(Float32Array.from(set.labels), [set.count, 1]) : tf.tidy(() => tf.oneHot(tf.tensor1d(set.labels, 'int32'), k).toFloat());
  return { x, y };
}

export default function cnnTumor(): ClassifierPlugin<CnnOptions> {
  return {
    kind: 'classifier',
    name: 'synthmix:cnn-tumor',
    version: '0.1.0',
    description: 'The paper\'s small CNN: conv 32/64/128 with max-pool, dense 128, dropout, sigmoid (softmax for >2 classes).',
    optionsSchema: optionsSchema as unknown as Record<string, unknown>,
    load: (dir, classes, tf) => loadClassifier(tf, dir, classes),
    async fit(train, val, options, ctx): Promise<TrainedClassifier> {
      const { tf } = ctx;
      const k = train.classNames.length;
      const model = buildClassifier(tf, { inputShape: [train.height, train.width, train.channels], classes: k, filters: options.filters, denseUnits: options.denseUnits, dropout: options.dropout, seed: ctx.seed });
      model.compile({ optimizer: tf.train.adam(options.learningRate), loss: k === 2 ? 'binaryCrossentropy' : 'categoricalCrossentropy', metrics: ['accuracy'] });
      const trainT = toTensors(tf, train);
      const valT = toTensors(tf, val);
      const classWeight = options.classWeights === 'balanced'
        ? Object.fromEntries(train.classNames.map((_, c) => [c, train.count / (k * Math.max(1, train.labels.filter((l) => l === c).length))]))
        : undefined;
      const random = createRng(ctx.seed);
      let best = { loss: Infinity, epoch: 0, weights: undefined as ReturnType<typeof model.getWeights> | undefined };
      try {
        for (let epoch = 1; epoch <= options.epochs; epoch++) {
          if (ctx.signal.aborted) break;
          // Our own seeded shuffle: tf's fit shuffles with Math.random, which breaks reproducibility.
          const order = tf.tensor1d(shuffled(Array.from({ length: train.count }, (_, i) => i), random), 'int32');
          const x = tf.gather(trainT.x, order);
          const y = tf.gather(trainT.y, order);
          order.dispose();
          const h = await model.fit(x, y, { epochs: 1, batchSize: options.batchSize, shuffle: false, validationData: [valT.x, valT.y], classWeight, verbose: 0 });
          x.dispose();
          y.dispose();
          const last = (name: string) => Number((h.history[name] as number[] | undefined)?.[0]);
          const metrics = { loss: last('loss'), accuracy: last('acc') || last('accuracy'), val_loss: last('val_loss'), val_accuracy: last('val_acc') || last('val_accuracy') };
          await ctx.progress({ step: epoch, total: options.epochs, unit: 'epoch', metrics });
          if (metrics.val_loss < best.loss) {
            best.weights?.forEach((w) => w.dispose());
            best = { loss: metrics.val_loss, epoch, weights: model.getWeights().map((w) => w.clone()) };
          } else if (options.earlyStopping.enabled && epoch - best.epoch >= options.earlyStopping.patience) {
            break;
          }
        }
        if (best.weights) model.setWeights(best.weights);
      } finally {
        best.weights?.forEach((w) => w.dispose());
        for (const t of [trainT.x, trainT.y, valT.x, valT.y]) t.dispose();
        // model.dispose() leaves the optimizer's slot variables (Adam moments) alive.
        model.optimizer.dispose();
      }
      return trainedClassifier(tf, model, k);
    },
  };
}

type LayersModel = ReturnType<typeof buildClassifier> | Awaited<ReturnType<TF['loadLayersModel']>>;

/** Wraps a tf model as a {@link TrainedClassifier}; also used after reloading a saved model. */
export function trainedClassifier(tf: TF, model: LayersModel, k: number): TrainedClassifier {
  return {
    async predict(images) {
      // [n, h, w, c] → [n, 1] sigmoid (→ [1 − p, p]) or [n, k] softmax
      const out = tf.tidy(() => {
        const x = tf.tensor4d(images.images, [images.count, images.height, images.width, images.channels]);
        const p = model.predict(x, { batchSize: 128 }) as ReturnType<TF['tensor2d']>;
        return k === 2 ? tf.concat([tf.sub(1, p), p], 1) : p;
      });
      const data = (await out.data()) as Float32Array;
      out.dispose();
      return data;
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
