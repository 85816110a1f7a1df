/** The study's small CNN, built with tf.layers. */
import type { TF } from '@synthmix/core';

export interface CnnArchitecture {
  inputShape: [number, number, number];
  classes: number;
  filters: number[];
  denseUnits: number;
  dropout: number;
  seed: number;
}

/**
 * [h, w, c] → (conv3×3 ReLU → maxpool 2×2) × len(filters) → flatten → dense ReLU → dropout →
 * 1 sigmoid unit (two classes) or `classes` softmax units.
 * For 64×64×3 and filters 32/64/128: 64×64×32 → 32×32×32 → 32×32×64 → 16×16×64 → 16×16×128 →
 * 8×8×128 → 8192 → 128 → 1.
 */
export function buildClassifier(tf: TF, a: CnnArchitecture) {
  const model = tf.sequential({ name: 'cnn_tumor' });
  a.filters.forEach((filters, i) => {
    model.add(tf.layers.conv2d({
      ...(i === 0 ? { inputShape: a.inputShape } : {}),
      filters, kernelSize: 3, padding: 'same', activation: 'relu',
      kernelInitializer: tf.initializers.glorotUniform({ seed: a.seed + i }),
    }));
    model.add(tf.layers.maxPooling2d({ poolSize: 2, strides: 2 }));
  });
  model.add(tf.layers.flatten());
  model.add(tf.layers.dense({ units: a.denseUnits, activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: a.seed + 100 }) }));
  model.add(tf.layers.dropout({ rate: a.dropout, seed: a.seed + 200 }));
  const binary = a.classes === 2;
  model.add(tf.layers.dense({ units: binary ? 1 : a.classes, activation: binary ? 'sigmoid' : 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: a.seed + 300 }) }));
  return model;
}
