/**
 * Differentiable augmentation (DiffAugment: Zhao et al. 2020, "Differentiable Augmentation for
 * Data-Efficient GAN Training"). With a few hundred images a discriminator memorises the real
 * set within a few epochs and the generator collapses (the phantom demo's 300 images a class
 * did, with our DCGAN and with PyTorch's example alike). DiffAugment shows the discriminator
 * real and generated images through the same random colour, translation and cutout, in the
 * discriminator's and the generator's update: every transform is differentiable, so the
 * generator still learns the unaugmented images, and the discriminator cannot memorise them.
 *
 * The random draws are made in JavaScript from a seeded stream and enter a training step as
 * tensors, so a compiled step stays a function of its inputs and a run is reproducible. The
 * parameters follow the paper's code: brightness ± 0.5, saturation × [0, 2], contrast ×
 * [0.5, 1.5]; translation by up to 1/8 of the side, zero padded; a cutout square of half the
 * side, centred anywhere in the image.
 *
 * The paper applies every transform to every image. Zero padding and the cutout square are
 * mid-grey in [-1, 1], and a transform that always applies can leak into the generated images
 * (Karras et al. 2020, ADA): the generator is only ever judged through it. With a probability
 * p < 1 each transform applies to each image independently with probability p, so the
 * discriminator also sees images as they are; ADA found p up to about 0.8 does not leak. On the
 * phantom demo p = 0.5 with a mode-seeking term passed the quality check where either alone did
 * not (docs/results/demo-ladder.md).
 */
import type { TF } from '@synthmix/core';

type Tensor = ReturnType<TF['tensor']>;

export const AUGMENTATIONS = ['color', 'translation', 'cutout'] as const;
export type Augmentation = (typeof AUGMENTATIONS)[number];

/** How many tensors one draw of each augmentation takes. */
const TENSORS: Record<Augmentation, number> = { color: 3, translation: 2, cutout: 1 };

/** Tensors per draw of a policy (its augmentations' tensors, in policy order). */
export function drawSize(policy: readonly Augmentation[]): number {
  return policy.reduce((sum, a) => sum + TENSORS[a], 0);
}

/** A random integer in [low, high], inclusive. */
const integer = (random: () => number, low: number, high: number) => low + Math.floor(random() * (high - low + 1));

/** Shift matrices [n, side, side]: row i picks source i + shift (none when outside: zero padding). */
function shiftMatrices(n: number, side: number, shifts: number[]): Float32Array {
  const m = new Float32Array(n * side * side);
  for (let b = 0; b < n; b++) {
    for (let i = 0; i < side; i++) {
      const source = i + shifts[b];
      if (source >= 0 && source < side) m[b * side * side + i * side + source] = 1;
    }
  }
  return m;
}

/**
 * One random draw of a policy for n images of height × width: the tensors a step takes, in
 * policy order (color: brightness, saturation, contrast [n, 1, 1, 1]; translation: row and
 * column shift matrices [n, h, h], [n, w, w]; cutout: a mask [n, h, w, 1]).
 */
export function drawAugmentation(tf: TF, policy: readonly Augmentation[], n: number, height: number, width: number, random: () => number, probability = 1): Tensor[] {
  const out: Tensor[] = [];
  const perImage = (values: number[]) => tf.tensor4d(Float32Array.from(values), [n, 1, 1, 1]);
  for (const a of policy) {
    // Which images this transform applies to; with probability 1 none is drawn (the stream is as before).
    const on = Array.from({ length: n }, () => probability >= 1 || random() < probability);
    // A value per image, or the transform's identity where it does not apply.
    const values = (f: () => number, identity: number) => on.map((applied) => (applied ? f() : identity));
    if (a === 'color') {
      out.push(perImage(values(() => random() - 0.5, 0)), perImage(values(() => random() * 2, 1)), perImage(values(() => random() + 0.5, 1)));
    } else if (a === 'translation') {
      const [sy, sx] = [height, width].map((side) => Math.floor(side * 0.125 + 0.5));
      out.push(
        tf.tensor3d(shiftMatrices(n, height, values(() => integer(random, -sy, sy), 0)), [n, height, height]),
        tf.tensor3d(shiftMatrices(n, width, values(() => integer(random, -sx, sx), 0)), [n, width, width]),
      );
    } else {
      const [ch, cw] = [height, width].map((side) => Math.floor(side * 0.5 + 0.5));
      const mask = new Float32Array(n * height * width).fill(1);
      for (let b = 0; b < n; b++) {
        if (!on[b]) continue;
        // The square's top-left corner: its centre anywhere from 0 to the side (the paper's offsets).
        const y0 = integer(random, 0, height + (1 - (ch % 2)) - 1) - Math.floor(ch / 2);
        const x0 = integer(random, 0, width + (1 - (cw % 2)) - 1) - Math.floor(cw / 2);
        for (let y = Math.max(0, y0); y < Math.min(height, y0 + ch); y++) {
          for (let x = Math.max(0, x0); x < Math.min(width, x0 + cw); x++) mask[b * height * width + y * width + x] = 0;
        }
      }
      out.push(tf.tensor4d(mask, [n, height, width, 1]));
    }
  }
  return out;
}

/**
 * x [n, h, w, c] through one draw of a policy (differentiable in x). Translation is two batched
 * matrix products with the shift matrices, over rows and then over columns.
 */
export function augment(tf: TF, policy: readonly Augmentation[], x: Tensor, draw: Tensor[]): Tensor {
  const [n, h, w, c] = x.shape as [number, number, number, number];
  let at = 0;
  let y = x;
  for (const a of policy) {
    if (a === 'color') {
      const [brightness, saturation, contrast] = draw.slice(at, at + 3);
      y = tf.add(y, brightness);
      const channelMean = tf.mean(y, 3, true); // [n, h, w, 1]
      y = tf.add(tf.mul(tf.sub(y, channelMean), saturation), channelMean);
      const imageMean = tf.mean(y, [1, 2, 3], true); // [n, 1, 1, 1]
      y = tf.add(tf.mul(tf.sub(y, imageMean), contrast), imageMean);
    } else if (a === 'translation') {
      const [rows, cols] = draw.slice(at, at + 2); // [n, h, h], [n, w, w]
      const byRows = tf.reshape(tf.matMul(rows as ReturnType<TF['tensor3d']>, tf.reshape(y, [n, h, w * c])), [n, h, w, c]);
      const columnsFirst = tf.reshape(tf.transpose(byRows, [0, 2, 1, 3]), [n, w, h * c]); // [n, w, h·c]
      y = tf.transpose(tf.reshape(tf.matMul(cols as ReturnType<TF['tensor3d']>, columnsFirst as ReturnType<TF['tensor3d']>), [n, w, h, c]), [0, 2, 1, 3]);
    } else {
      y = tf.mul(y, draw[at]); // mask [n, h, w, 1]
    }
    at += TENSORS[a];
  }
  return y;
}
