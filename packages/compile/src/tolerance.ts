/**
 * How far a compiled step may drift from the same step run eagerly, and how to measure it.
 *
 * Both paths run the same TensorFlow kernels on the same float32 inputs; what may differ is the
 * order of additions inside reductions when Grappler fuses ops (e.g. convolution + bias + ReLU
 * into one oneDNN call, bias gradients summed inside a fused backward pass), and the Adam update,
 * which the graph runs as one ResourceApplyAdam (fuse-adam.ts: the same formula, rounded in
 * another order, so weights end a step up to about one float32 ulp apart). Reordering a float32
 * sum of n terms changes it by at most about n·ε·Σ|terms| (ε = 2⁻²⁴ ≈ 6·10⁻⁸), in practice
 * √n·ε relative: for the largest reductions here (a filter gradient over 64 images × 32×32
 * positions, n ≈ 6·10⁴) that is ≈ 1.5·10⁻⁵ relative on a gradient. Adam turns a gradient into a
 * step of about the learning rate (≤ 10⁻³) whatever its size, so 20 such steps move a weight
 * apart by at most ≈ 20 · 10⁻³ · 1.5·10⁻⁵ · (a few, for sign flips of tiny moments) < 10⁻⁶.
 * Once the weights differ at all, a discrete choice can go the other way (a max-pool argmax, a
 * ReLU at 0): one gradient term changes for one step, and Adam carries that into the following
 * steps at up to the learning rate each. Measured: the paper CNN's test (lr 10⁻³, 20 steps) has
 * one first-layer weight 2.9·10⁻⁵ apart after such a switch at step 18 (every other weight
 * ≤ 3.4·10⁻⁶); the DDPM's and the DCGAN's ≈ 10⁻⁶. The weight tolerance leaves a factor of three on
 * top of the largest; the losses agree within 10⁻⁶ relative, the tolerance leaves a factor of 100.
 */
export const TOLERANCE = {
  /** |compiled − eager| / max(|eager|, 1e-3), per loss value over 20 steps. */
  lossRelative: 1e-4,
  /** |compiled − eager|, per weight after 20 steps. */
  weightAbsolute: 1e-4,
} as const;

export interface PathDifference {
  lossRelative: number;
  weightAbsolute: number;
}

/** The largest differences between an eager and a compiled run's losses and final weights. */
export function pathDifference(eager: { losses: number[]; weights: ArrayLike<number>[] }, compiled: { losses: number[]; weights: ArrayLike<number>[] }): PathDifference {
  if (eager.losses.length !== compiled.losses.length || eager.weights.length !== compiled.weights.length) throw new Error('the two runs differ in length');
  let lossRelative = 0;
  eager.losses.forEach((l, i) => {
    const d = Math.abs(compiled.losses[i] - l) / Math.max(Math.abs(l), 1e-3);
    lossRelative = Math.max(lossRelative, Number.isNaN(d) ? Infinity : d);
  });
  let weightAbsolute = 0;
  eager.weights.forEach((w, i) => {
    for (let j = 0; j < w.length; j++) {
      const d = Math.abs(compiled.weights[i][j] - w[j]);
      weightAbsolute = Math.max(weightAbsolute, Number.isNaN(d) ? Infinity : d);
    }
  });
  return { lossRelative, weightAbsolute };
}
