import { beforeAll, describe, expect, it } from 'vitest';
import { loadBackend, type LoadedBackend } from '@synthmix/core';
import { Compiler } from './compiler.js';
import { findReluGradients } from './fuse-relu-grad.js';
import { recordStep, type TF } from './trace.js';

let tf: TF;
beforeAll(async () => {
  tf = (await loadBackend('tensorflow')).tf as unknown as TF;
});

type Tensor = ReturnType<LoadedBackend['tf']['tensor']>;

/** The gradient of sum(f(x·w)·c) with respect to w, recorded: `f` a ReLU or another activation. */
function recordGradient(activation: (t: Tensor) => Tensor, extra: (pre: Tensor) => Record<string, Tensor> = () => ({})) {
  const w = tf.variable(tf.randomNormal([3, 5], 0, 1, 'float32', 1), true);
  const x = tf.randomNormal([4, 3], 0, 1, 'float32', 2);
  const c = tf.randomNormal([4, 5], 0, 1, 'float32', 3);
  const step = (input: Tensor) => {
    let more: Record<string, Tensor> = {};
    const { value, grads } = tf.variableGrads(() => {
      const pre = tf.matMul(input as never, w) as unknown as Tensor;
      more = extra(pre);
      return tf.sum(tf.mul(activation(pre) as never, c)) as never;
    }, [w]);
    return { loss: value as unknown as Tensor, grad: Object.values(grads)[0] as unknown as Tensor, ...more };
  };
  const { result, trace } = recordStep(tf, step as never, [x]);
  return { trace, result: result as unknown as Record<string, Tensor>, dispose: () => tf.dispose([...Object.values(result), x, c, w]) };
}

describe('finding tfjs\'s ReLU gradient in a recording', () => {
  it('finds dy · step(x) (IsNan, Greater, two Selects, a Fill, a Cast) and nothing of another activation', () => {
    const relu = recordGradient((t) => tf.relu(t as never) as never);
    const { gradients, replaced } = findReluGradients(relu.trace);
    expect(gradients.size).toBe(1);
    const [g] = [...gradients.values()];
    expect(relu.trace.ops[g.mul].op).toBe('Mul');
    // x is the ReLU's input, the matmul.
    expect(g.features.kind === 'op' && relu.trace.ops[g.features.node].op).toBe('BatchMatMulV2');
    expect([...replaced].map((n) => relu.trace.ops[n].op).sort()).toEqual(['Cast', 'Fill', 'Greater', 'IsNan', 'Select', 'Select']);
    relu.dispose();
    for (const other of [(t: Tensor) => tf.elu(t as never), (t: Tensor) => tf.leakyRelu(t as never, 0.2), (t: Tensor) => tf.sigmoid(t as never)]) {
      const r = recordGradient(other as never);
      expect(findReluGradients(r.trace).gradients.size).toBe(0);
      r.dispose();
    }
  });

  it('finds one per ReLU, and leaves a gradient alone when part of its step(x) is used elsewhere', () => {
    const twice = recordGradient((t) => tf.add(tf.relu(t as never), tf.relu(tf.neg(t as never))) as never);
    expect(findReluGradients(twice.trace).gradients.size).toBe(2);
    twice.dispose();
    const relu = recordGradient((t) => tf.relu(t as never) as never);
    const [g] = [...findReluGradients(relu.trace).gradients.values()];
    // Make the step's outer Select an output of the step too: then the Mul is not the only reader.
    const cast = relu.trace.ops[g.mul].inputs.find((r) => r.kind === 'op' && relu.trace.ops[r.node].op === 'Cast') as { node: number };
    const select = relu.trace.ops[cast.node].inputs[0];
    relu.trace.outputs.push({ name: 'step', ref: select, meta: relu.trace.ops[(select as { node: number }).node].outputs[0] });
    expect(findReluGradients(relu.trace).gradients.size).toBe(0);
    relu.dispose();
  });

  it('a compiled step with ReluGrad gives the eager gradient bit for bit, and the graph has no IsNan left', () => {
    const w = tf.variable(tf.randomNormal([3, 3, 2, 4], 0, 1, 'float32', 5), true);
    const b = tf.variable(tf.randomNormal([4], 0, 1, 'float32', 6), true);
    const fn = (x: Tensor) => {
      const { value, grads } = tf.variableGrads(() => tf.sum(tf.relu(tf.add(tf.conv2d(x as never, w as never, 1, 'same'), b) as never)) as never, [w, b]);
      return { loss: value as unknown as Tensor, dw: grads[w.name] as unknown as Tensor, db: grads[b.name] as unknown as Tensor };
    };
    const x = tf.randomNormal([2, 6, 6, 2], 0, 1, 'float32', 7);
    const eager = tf.tidy(() => fn(x));
    const ops: string[] = [];
    const compiler = new Compiler(tf as never, { mode: 'on', owner: 'test', opTimings: (timings) => ops.push(...timings.map((t) => t.op)) });
    const step = compiler.step('relu step', fn as never);
    const first = step.run(x as never) as unknown as Record<string, Tensor>;
    const compiled = step.run(x as never) as unknown as Record<string, Tensor>;
    expect(step.counts.compiled).toBeGreaterThanOrEqual(1);
    for (const k of ['loss', 'dw', 'db']) expect(Array.from(compiled[k].dataSync())).toEqual(Array.from((eager as Record<string, Tensor>)[k].dataSync()));
    expect(ops).toContain('ReluGrad');
    expect(ops).not.toContain('IsNan');
    compiler.dispose();
    tf.dispose([x, w, b, ...Object.values(eager), ...Object.values(first), ...Object.values(compiled)]);
  });
});
