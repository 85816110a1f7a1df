/** DCGAN networks (Radford et al. 2016), sized for 2^k × 2^k images. */
import type { TF } from '@synthmix/core';
import { batchNormalization, relu } from './fused-layers.js';

export interface DcganArchitecture {
  size: number;
  channels: number;
  latentDim: number;
  /** Generator width: filters of the last hidden layer; earlier layers double it. */
  ngf: number;
  /** Discriminator width: filters of the first layer; later layers double it. */
  ndf: number;
  seed: number;
}

/** Number of stride-2 stages between 4×4 and size×size. */
export function stages(size: number): number {
  const k = Math.log2(size / 4);
  if (!Number.isInteger(k) || k < 1) throw new Error(`DCGAN needs a power-of-two image size ≥ 8, found ${size}`);
  return k;
}

const init = (tf: TF, seed: number) => tf.initializers.randomNormal({ mean: 0, stddev: 0.02, seed });

/**
 * z [n, latent] → dense → [n, 4, 4, ngf·2^(k−1)] → (convT 4×4 s2, BN, ReLU) × (k−1) →
 * convT 4×4 s2 → tanh → [n, size, size, channels]. For size 64, ngf 64:
 * 4×4×512 → 8×8×256 → 16×16×128 → 32×32×64 → 64×64×3.
 */
export function buildGenerator(tf: TF, a: DcganArchitecture) {
  const k = stages(a.size);
  const g = tf.sequential({ name: 'dcgan_generator' });
  const top = a.ngf * 2 ** (k - 1);
  // The paper's first layer is a 4×4 transposed conv on a 1×1 input; a dense layer is the same map.
  g.add(tf.layers.dense({ inputShape: [a.latentDim], units: 4 * 4 * top, useBias: false, kernelInitializer: init(tf, a.seed) }));
  g.add(tf.layers.reshape({ targetShape: [4, 4, top] }));
  g.add(batchNormalization(tf, { momentum: 0.9, epsilon: 1e-5, gammaInitializer: tf.initializers.randomNormal({ mean: 1, stddev: 0.02, seed: a.seed + 1 }) }));
  g.add(relu(tf));
  for (let i = 1; i < k; i++) {
    g.add(tf.layers.conv2dTranspose({ filters: a.ngf * 2 ** (k - 1 - i), kernelSize: 4, strides: 2, padding: 'same', useBias: false, kernelInitializer: init(tf, a.seed + 10 * i) }));
    g.add(batchNormalization(tf, { momentum: 0.9, epsilon: 1e-5, gammaInitializer: tf.initializers.randomNormal({ mean: 1, stddev: 0.02, seed: a.seed + 10 * i + 1 }) }));
    g.add(relu(tf));
  }
  g.add(tf.layers.conv2dTranspose({ filters: a.channels, kernelSize: 4, strides: 2, padding: 'same', activation: 'tanh', kernelInitializer: init(tf, a.seed + 99) }));
  return g;
}

/**
 * x [n, size, size, channels] → conv 4×4 s2 LeakyReLU(0.2) (no BN on the first layer) →
 * (conv 4×4 s2, BN, LeakyReLU) × (k−1) → [n, 4, 4, ndf·2^(k−1)] → flatten → dense 1 (logit).
 */
export function buildDiscriminator(tf: TF, a: DcganArchitecture) {
  const k = stages(a.size);
  const d = tf.sequential({ name: 'dcgan_discriminator' });
  d.add(tf.layers.conv2d({ inputShape: [a.size, a.size, a.channels], filters: a.ndf, kernelSize: 4, strides: 2, padding: 'same', kernelInitializer: init(tf, a.seed + 1000) }));
  d.add(relu(tf, 0.2));
  for (let i = 1; i < k; i++) {
    d.add(tf.layers.conv2d({ filters: a.ndf * 2 ** i, kernelSize: 4, strides: 2, padding: 'same', useBias: false, kernelInitializer: init(tf, a.seed + 1000 + 10 * i) }));
    d.add(batchNormalization(tf, { momentum: 0.9, epsilon: 1e-5, gammaInitializer: tf.initializers.randomNormal({ mean: 1, stddev: 0.02, seed: a.seed + 1001 + 10 * i }) }));
    d.add(relu(tf, 0.2));
  }
  // The paper's last layer is a 4×4 valid conv to 1×1×1; flatten + dense is the same map.
  d.add(tf.layers.flatten());
  d.add(tf.layers.dense({ units: 1, kernelInitializer: init(tf, a.seed + 1999) }));
  return d;
}
