/**
 * A small U-Net for noise prediction, written with plain tf ops over named variables (the layers
 * API cannot broadcast a time embedding over feature maps). Two resolutions down, two up:
 *
 * x [n, s, s, c] → conv → res(C1) ─────────────skip1──────────────┐
 *                        ↓ avg-pool → res(C2) ───skip2──┐          │
 *                                     ↓ avg-pool → res(C3) → res(C3)│
 *                                     ↑ upsample ⊕ skip2 → res(C2)  │
 *                        ↑ upsample ⊕ skip1 ───────────→ res(C1) → conv → ε̂ [n, s, s, c]
 *
 * Every residual block adds a projection of the sinusoidal time embedding.
 */
import type { TF } from '@synthmix/core';
import { createRng, normalArray, tensorFlowKernels } from '@synthmix/core';

type Tensor = ReturnType<TF['tensor']>;
type Variable = ReturnType<TF['variable']>;

export interface UnetArchitecture {
  size: number;
  channels: number;
  /** Widths at full, half and quarter resolution. */
  widths: [number, number, number];
  /** Size of the sinusoidal time embedding. */
  timeDim: number;
  seed: number;
}

export class Unet {
  readonly params = new Map<string, Variable>();
  private readonly random: () => number;

  constructor(private readonly tf: TF, readonly arch: UnetArchitecture, prefix = 'unet') {
    if (arch.size % 4 !== 0) throw new Error(`the U-Net needs an image size divisible by 4, found ${arch.size}`);
    this.random = createRng(arch.seed);
    const [c1, c2, c3] = arch.widths;
    const t = arch.timeDim * 2;
    this.dense(`${prefix}/time1`, arch.timeDim, t);
    this.dense(`${prefix}/time2`, t, t);
    this.conv(`${prefix}/in`, 3, arch.channels, c1);
    this.res(`${prefix}/down1`, c1, c1, t);
    this.res(`${prefix}/down2`, c1, c2, t);
    this.res(`${prefix}/mid1`, c2, c3, t);
    this.res(`${prefix}/mid2`, c3, c3, t);
    this.res(`${prefix}/up2`, c3 + c2, c2, t);
    this.res(`${prefix}/up1`, c2 + c1, c1, t);
    this.conv(`${prefix}/out`, 3, c1, arch.channels, 0.0);
    this.prefix = prefix;
  }

  private prefix: string;

  /** He-normal weights from the seeded stream; `scale` 0 starts the output layer at zero. */
  private variable(name: string, shape: number[], fanIn: number, scale = 1): void {
    const n = shape.reduce((a, b) => a * b, 1);
    const std = scale * Math.sqrt(2 / fanIn);
    const values = normalArray(this.random, n).map((v) => v * std);
    this.params.set(name, this.tf.variable(this.tf.tensor(values, shape), true, `${name}_${this.arch.seed}_${Unet.instances++}`));
  }

  static instances = 0;

  private conv(name: string, k: number, cin: number, cout: number, scale = 1): void {
    this.variable(`${name}/w`, [k, k, cin, cout], k * k * cin, scale);
    this.params.set(`${name}/b`, this.tf.variable(this.tf.zeros([cout]), true, `${name}/b_${this.arch.seed}_${Unet.instances++}`));
  }

  private dense(name: string, cin: number, cout: number): void {
    this.variable(`${name}/w`, [cin, cout], cin);
    this.params.set(`${name}/b`, this.tf.variable(this.tf.zeros([cout]), true, `${name}/b_${this.arch.seed}_${Unet.instances++}`));
  }

  private res(name: string, cin: number, cout: number, tdim: number): void {
    this.conv(`${name}/conv1`, 3, cin, cout);
    this.dense(`${name}/time`, tdim, cout);
    this.conv(`${name}/conv2`, 3, cout, cout, 0.5);
    if (cin !== cout) this.conv(`${name}/skip`, 1, cin, cout);
  }

  private p(name: string): Variable {
    return this.params.get(`${this.prefix}/${name}`)!;
  }

  private applyConv(x: Tensor, name: string): Tensor {
    const tf = this.tf;
    return tf.add(tf.conv2d(x as never, this.p(`${name}/w`) as never, 1, 'same'), this.p(`${name}/b`));
  }

  private applyDense(x: Tensor, name: string): Tensor {
    const tf = this.tf;
    return tf.add(tf.matMul(x as never, this.p(`${name}/w`) as never), this.p(`${name}/b`));
  }

  private swish(x: Tensor): Tensor {
    return swish(this.tf, x);
  }

  private applyRes(x: Tensor, temb: Tensor, name: string): Tensor {
    const tf = this.tf;
    let h = this.swish(this.applyConv(x, `${name}/conv1`)); // [n, s, s, cout]
    const t = this.applyDense(temb, `${name}/time`); // [n, cout]
    h = tf.add(h, tf.reshape(t, [t.shape[0]!, 1, 1, t.shape[1]!]));
    h = this.applyConv(this.swish(h), `${name}/conv2`);
    const skip = this.params.has(`${this.prefix}/${name}/skip/w`) ? this.applyConv(x, `${name}/skip`) : x;
    return tf.add(h, skip);
  }

  /** Sinusoidal embedding of integer timesteps t [n] → [n, timeDim]. */
  timeEmbedding(t: Int32Array | number[]): Tensor {
    const half = this.arch.timeDim / 2;
    const out = new Float32Array(t.length * this.arch.timeDim);
    for (let i = 0; i < t.length; i++) {
      for (let k = 0; k < half; k++) {
        const freq = Math.exp((-Math.log(10000) * k) / half);
        out[i * this.arch.timeDim + k] = Math.sin(t[i] * freq);
        out[i * this.arch.timeDim + half + k] = Math.cos(t[i] * freq);
      }
    }
    return this.tf.tensor2d(out, [t.length, this.arch.timeDim]);
  }

  /** ε̂(x_t, t): x [n, s, s, c], t [n] → [n, s, s, c]. Call inside tf.tidy. */
  apply(x: Tensor, t: Int32Array | number[]): Tensor {
    return this.applyEmbedded(x, this.timeEmbedding(t));
  }

  /**
   * ε̂ from the sinusoidal embedding of t ([n, timeDim], {@link timeEmbedding}) instead of t, so a
   * compiled step can take it as an input (it is computed in JavaScript).
   */
  applyEmbedded(x: Tensor, tEmbedding: Tensor): Tensor {
    const tf = this.tf;
    const s = this.arch.size;
    const temb = this.applyDense(this.swish(this.applyDense(tEmbedding, 'time1')), 'time2'); // [n, 2·timeDim]
    const h0 = this.applyConv(x, 'in'); // [n, s, s, C1]
    const skip1 = this.applyRes(h0, temb, 'down1'); // [n, s, s, C1]
    const skip2 = this.applyRes(tf.avgPool(skip1 as never, 2, 2, 'valid'), temb, 'down2'); // [n, s/2, s/2, C2]
    let h = this.applyRes(tf.avgPool(skip2 as never, 2, 2, 'valid'), temb, 'mid1'); // [n, s/4, s/4, C3]
    h = this.applyRes(h, temb, 'mid2');
    h = tf.image.resizeNearestNeighbor(h as never, [s / 2, s / 2]); // [n, s/2, s/2, C3]
    h = this.applyRes(tf.concat([h, skip2], 3), temb, 'up2'); // [n, s/2, s/2, C2]
    h = tf.image.resizeNearestNeighbor(h as never, [s, s]);
    h = this.applyRes(tf.concat([h, skip1], 3), temb, 'up1'); // [n, s, s, C1]
    return this.applyConv(this.swish(h), 'out'); // [n, s, s, c]
  }

  get variables(): Variable[] {
    return [...this.params.values()];
  }

  countParams(): number {
    return this.variables.reduce((n, v) => n + v.size, 0);
  }

  dispose(): void {
    this.tf.dispose(this.variables);
  }
}

/**
 * swish(x) = x·σ(x), whose gradient on TensorFlow's backend is dy·σ + SigmoidGrad(σ, dy·x)
 * (= dy·(σ + x·σ·(1 − σ))): four passes over the tensor, where tfjs differentiates the product
 * and the sigmoid op by op in six (found with bench/profile.mjs on the DDPM step). Other backends
 * keep tfjs's own gradient. The values are the same; the gradient agrees within float32 rounding.
 */
export function swish(tf: TF, x: Tensor): Tensor {
  const kernels = tensorFlowKernels(tf);
  if (!kernels || x.dtype !== 'float32') return tf.mul(x, tf.sigmoid(x));
  const type = { name: 'T', type: kernels.binding.TF_ATTR_TYPE, value: kernels.binding.TF_FLOAT };
  const activate = tf.customGrad((...args: unknown[]) => {
    const [input, save] = args as [Tensor, (tensors: Tensor[]) => void];
    const s = tf.sigmoid(input);
    save([input, s]);
    return {
      value: tf.mul(input, s),
      gradFunc: (dy: Tensor | Tensor[], [saved, sigmoid]: Tensor[]) => tf.add(tf.mul(dy as Tensor, sigmoid), kernels.executeSingleOutput('SigmoidGrad', [type], [sigmoid, tf.mul(dy as Tensor, saved)])),
    };
  });
  return activate(x) as Tensor;
}
