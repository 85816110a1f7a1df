/**
 * Layers whose training pass runs TensorFlow's fused kernels where tfjs composes small ops, as
 * PyTorch runs its fused ones (found with bench/profile.mjs on the DCGAN-64 step):
 * - batch normalisation: FusedBatchNormV3 and its gradient (oneDNN's), where tfjs computes the
 *   batch statistics with separate ops and differentiates them op by op — about 450 small ops
 *   (Mul, Sum, Sub, Tile, …) and a fifth of the step's op time;
 * - ReLU and leaky ReLU: their gradients as ReluGrad / LeakyReluGrad of the activation's output,
 *   where tfjs's take IsNan, Greater, Select and Mul of its input (and so also kept the
 *   pre-activation alive, a second consumer that can stop Grappler fusing it into the convolution).
 * Same weights, names and checkpoints as tfjs's layers, and the same numbers within float32
 * rounding (fused-layers.test.ts). Inference, and any backend without TensorFlow's ops, keep
 * tfjs's own path.
 */
import { tensorFlowKernels, type TensorFlowOpAttr, type TF } from '@synthmix/core';

type Tensor = ReturnType<TF['tensor']>;
type LayerArgs = Parameters<TF['layers']['batchNormalization']>[0];
type BatchNormLayer = ReturnType<TF['layers']['batchNormalization']>;

/**
 * Training-mode batch normalisation of x [n, h, w, c] over n, h and w with TensorFlow's fused
 * kernels: y = γ (x − mean) / √(variance + ε) + β, differentiable in x, γ and β (by
 * FusedBatchNormGradV3, which takes the batch statistics' own dependence on x into account, as
 * tfjs's op-by-op gradient does). `withStats` is handed the batch mean and the biased batch
 * variance [c] (for the moving averages), which live only for that call. Undefined where the
 * backend is not TensorFlow.
 */
export function fusedBatchNormTraining(tf: TF, x: Tensor, gamma: Tensor, beta: Tensor, epsilon: number, withStats?: (mean: Tensor, variance: Tensor) => void): Tensor | undefined {
  const backend = tensorFlowKernels(tf);
  if (!backend || x.rank !== 4 || x.dtype !== 'float32') return undefined;
  const { binding } = backend;
  const attrs: TensorFlowOpAttr[] = [
    { name: 'T', type: binding.TF_ATTR_TYPE, value: binding.TF_FLOAT },
    { name: 'U', type: binding.TF_ATTR_TYPE, value: binding.TF_FLOAT },
    { name: 'epsilon', type: binding.TF_ATTR_FLOAT, value: epsilon },
    { name: 'data_format', type: binding.TF_ATTR_STRING, value: 'NHWC' },
    { name: 'is_training', type: binding.TF_ATTR_BOOL, value: true },
  ];
  const [n, h, w] = x.shape;
  const count = n * h * w;
  const normalise = tf.customGrad((...args: unknown[]) => {
    const [input, scale, offset, save] = args as [Tensor, Tensor, Tensor, (tensors: Tensor[]) => void];
    // In training the kernel takes no statistics: empty mean and variance.
    const none = tf.tensor1d([], 'float32');
    // y, batch mean, batch variance (Bessel-corrected), and what the gradient needs (the saved
    // mean and inverse deviation, a workspace).
    const [y, mean, unbiased, saved1, saved2, saved3] = backend.executeMultipleOutputs('FusedBatchNormV3', [...attrs, { name: 'exponential_avg_factor', type: binding.TF_ATTR_FLOAT, value: 1 }], [input, scale, offset, none, none], 6);
    // tfjs's layer averages the biased variance (its moments); the kernel returns the unbiased one.
    // Handed over here: this forward pass is a tidy scope of its own, which releases them.
    withStats?.(mean, count > 1 ? tf.mul(unbiased, (count - 1) / count) : unbiased);
    save([input, scale, saved1, saved2, saved3]);
    return {
      value: y,
      gradFunc: (dy: Tensor | Tensor[], saved: Tensor[]) => {
        const [dx, dScale, dOffset] = backend.executeMultipleOutputs('FusedBatchNormGradV3', attrs, [dy as Tensor, ...saved], 5);
        return [dx, dScale, dOffset];
      },
    };
  });
  return normalise(x, gamma, beta) as Tensor;
}

type Kwargs = { training?: boolean } & Record<string, unknown>;
interface BatchNormFields {
  axis: number;
  center: boolean;
  scale: boolean;
  epsilon: number;
  momentum: number;
  gamma: { read(): Tensor };
  beta: { read(): Tensor };
  movingMean: { read(): Tensor; write(value: Tensor): void };
  movingVariance: { read(): Tensor; write(value: Tensor): void };
}

type LayerClass = new (args: never) => { call(inputs: Tensor | Tensor[], kwargs: Kwargs): Tensor | Tensor[] };

const classes = new WeakMap<object, Map<string, LayerClass>>();

/** tfjs's layer class of that name, subclassed once per tfjs namespace by `extend`. */
function subclassOf<T>(tf: TF, className: string, extend: (base: LayerClass) => LayerClass): new (args: never) => T {
  let mine = classes.get(tf);
  if (!mine) classes.set(tf, (mine = new Map()));
  let cls = mine.get(className);
  if (!cls) {
    const base = tf.serialization.SerializationMap.getMap().classNameMap[className][0] as unknown as LayerClass;
    cls = extend(base);
    mine.set(className, cls);
  }
  return cls as new (args: never) => T;
}

/**
 * A batch-normalisation layer (tfjs's, same weights, names and checkpoints) whose training pass
 * is {@link fusedBatchNormTraining} for 4-D inputs normalised over the last axis; the moving
 * averages are updated as tfjs's layer updates them.
 */
export function batchNormalization(tf: TF, args: LayerArgs): BatchNormLayer {
  const Fused = subclassOf<BatchNormLayer>(tf, 'BatchNormalization', (Base) => class FusedTrainingBatchNormalization extends Base {
    call(inputs: Tensor | Tensor[], kwargs: Kwargs): Tensor | Tensor[] {
      const input = Array.isArray(inputs) ? inputs[0] : inputs;
      const self = this as unknown as BatchNormFields;
      const lastAxis = self.axis === -1 || self.axis === input.rank - 1;
      if (!kwargs?.training || !lastAxis || !self.center || !self.scale) return super.call(inputs, kwargs);
      const decay = 1 - self.momentum;
      const updateMovingAverages = (mean: Tensor, variance: Tensor) => {
        for (const [variable, value] of [[self.movingMean, mean], [self.movingVariance, variance]] as const) {
          const current = variable.read();
          variable.write(tf.sub(current, tf.mul(tf.sub(current, value), decay)));
        }
      };
      return tf.tidy(() => fusedBatchNormTraining(tf, input, self.gamma.read(), self.beta.read(), self.epsilon, updateMovingAverages) ?? (super.call(inputs, kwargs) as Tensor));
    }
  });
  return new Fused(args as never);
}

/**
 * ReLU (alpha 0) or leaky ReLU of x, differentiated by TensorFlow's ReluGrad / LeakyReluGrad of
 * the output: for alpha ≥ 0 the output is positive exactly where the input is. Undefined where
 * the backend is not TensorFlow or alpha is negative.
 */
export function fusedRelu(tf: TF, x: Tensor, alpha: number): Tensor | undefined {
  const backend = tensorFlowKernels(tf);
  if (!backend || alpha < 0 || x.dtype !== 'float32') return undefined;
  const { binding } = backend;
  const type = { name: 'T', type: binding.TF_ATTR_TYPE, value: binding.TF_FLOAT };
  const activate = tf.customGrad((...args: unknown[]) => {
    const [input, save] = args as [Tensor, (tensors: Tensor[]) => void];
    const y = alpha === 0 ? tf.relu(input) : tf.leakyRelu(input, alpha);
    save([y]);
    return {
      value: y,
      gradFunc: (dy: Tensor | Tensor[], [output]: Tensor[]) =>
        alpha === 0 ? backend.executeSingleOutput('ReluGrad', [type], [dy as Tensor, output]) : backend.executeSingleOutput('LeakyReluGrad', [type, { name: 'alpha', type: binding.TF_ATTR_FLOAT, value: alpha }], [dy as Tensor, output]),
    };
  });
  return activate(x) as Tensor;
}

type ReluLayer = ReturnType<TF['layers']['reLU']>;

/** tfjs's ReLU layer (no maximum value) or LeakyReLU layer, with {@link fusedRelu}'s gradient. */
export function relu(tf: TF, alpha = 0): ReluLayer {
  const className = alpha === 0 ? 'ReLU' : 'LeakyReLU';
  const Fused = subclassOf<ReluLayer>(tf, className, (Base) => class FusedGradientRelu extends Base {
    call(inputs: Tensor | Tensor[], kwargs: Kwargs): Tensor | Tensor[] {
      const input = Array.isArray(inputs) ? inputs[0] : inputs;
      // tfjs's ReLU layer has a maxValue (none here) and no slope; LeakyReLU has its alpha.
      const { maxValue, alpha: slope = 0 } = this as unknown as { maxValue?: number | null; alpha?: number };
      if (maxValue != null) return super.call(inputs, kwargs);
      return fusedRelu(tf, input, slope) ?? super.call(inputs, kwargs);
    }
  });
  return new Fused((alpha === 0 ? {} : { alpha }) as never);
}
