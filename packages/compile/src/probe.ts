/**
 * Whether the compiled path works here: a tiny training step (a linear model, plain SGD) run
 * eagerly and compiled from the same start must end at the same weights. For `synthmix doctor`.
 */
import { Compiler } from './compiler.js';
import { loadGraphBinding } from './native.js';
import type { TF } from './trace.js';

export interface CompileProbe {
  ok: boolean;
  /** libtensorflow's version as the addon sees it. */
  tensorflow?: string;
  error?: string;
  /** Largest difference between the eagerly and the compiled trained weights. */
  difference?: number;
}

export function probeCompiledPath(tf: TF, options: { xla?: boolean } = {}): CompileProbe {
  let tensorflow: string | undefined;
  try {
    tensorflow = loadGraphBinding().version();
    const train = (mode: 'on' | 'off') => {
      const w = tf.variable(tf.tensor2d([0.5, -0.25, 0.125, 1], [4, 1]), true);
      const optimizer = tf.train.sgd(0.1);
      const compiler = new Compiler(tf, { mode, owner: 'doctor', xla: options.xla });
      try {
        const step = compiler.step('probe step', (x: ReturnType<TF['tensor']>, y: ReturnType<TF['tensor']>) => ({
          loss: optimizer.minimize(() => tf.mean(tf.square(tf.sub(tf.matMul(x as never, w), y))) as never, true, [w])!,
        }));
        for (let i = 0; i < 4; i++) {
          const x = tf.tensor2d(Array.from({ length: 8 }, (_, k) => Math.sin(i * 8 + k)), [2, 4]);
          const y = tf.tensor2d([i, -i], [2, 1]);
          tf.dispose([x, y, step.run(x, y).loss]);
        }
        if (mode === 'on' && step.counts.compiled !== 4) throw new Error(`only ${step.counts.compiled} of 4 probe steps ran compiled`);
        compiler.sync();
        return w.dataSync().slice();
      } finally {
        compiler.dispose();
        optimizer.dispose();
        w.dispose();
      }
    };
    const eager = train('off');
    const compiled = train('on');
    const difference = Math.max(...eager.map((v, i) => Math.abs(v - compiled[i])));
    if (!(difference <= 1e-6)) return { ok: false, tensorflow, difference, error: `compiled and eager weights differ by ${difference}` };
    return { ok: true, tensorflow, difference };
  } catch (e) {
    return { ok: false, tensorflow, error: (e as Error).message.split('\n')[0] };
  }
}
