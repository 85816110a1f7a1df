/**
 * Finds tfjs's ReLU gradient in a recording so the graph can run it as one ReluGrad instead of
 * six ops over the activation (each a pass over its memory). tfjs 4.x differentiates relu(x) —
 * a ReLU layer, or the `activation: 'relu'` of a dense or convolution layer — as
 * `dy · step(x)`, and tfjs-node's Step kernel writes step as
 *
 *     Select(IsNan(x), x, Select(Greater(x, 0), ones, Fill(shape, 0)))
 *
 * (then a Cast to float32). ReluGrad(dy, f) is dy where f > 0 and 0 elsewhere: the same numbers,
 * bit for bit, except where x is NaN (tfjs passes the NaN on, ReluGrad gives 0; a step that makes
 * NaN activations has a NaN loss either way, which the plugins report). Given the activation's
 * output as f (relu(x) > 0 ⟺ x > 0), the pre-activation keeps a single consumer, the ReLU,
 * which lets Grappler's remapper fuse convolution + bias + ReLU.
 *
 * Only exact matches whose intermediate values are used nowhere else are replaced.
 */
import { metaOf, refKey as key, useCounts, type Constant, type RecordedOp, type Ref, type Trace } from './trace.js';

export interface ReluGradient {
  /** The recorded Mul that the ReluGrad replaces. */
  mul: number;
  /** dy. */
  gradient: Ref;
  /** x, the ReLU's input (the graph may give the ReLU's output instead). */
  features: Ref;
}

export interface ReluGradFusion {
  /** By the index of the Mul each replaces. */
  gradients: Map<number, ReluGradient>;
  /** Recorded ops the ReluGrads make unnecessary (not written to the graph). */
  replaced: Set<number>;
}

const SELECT = new Set(['Select', 'SelectV2']);

export function findReluGradients(trace: Trace): ReluGradFusion {
  const uses = useCounts(trace);

  const op = (r: Ref | undefined, types: Set<string> | string, inputs: number): (RecordedOp & { node: number }) | undefined => {
    if (r?.kind !== 'op' || r.index !== 0) return undefined;
    const o = trace.ops[r.node];
    const ok = typeof types === 'string' ? o.op === types : types.has(o.op);
    return ok && o.inputs.length === inputs ? { ...o, node: r.node } : undefined;
  };
  const constantEverywhere = (r: Ref | undefined, value: number): boolean => {
    if (r?.kind !== 'constant') return false;
    const c: Constant = trace.constants[r.index];
    return c.dtype === 1 && c.values.length > 0 && c.values.every((v) => v === value);
  };
  /** A float32 tensor of zeros: a constant, or a Fill of the constant 0. */
  const zeros = (r: Ref | undefined): (RecordedOp & { node: number }) | 'constant' | undefined => {
    if (constantEverywhere(r, 0)) return 'constant';
    const fill = op(r, 'Fill', 2);
    return fill && constantEverywhere(fill.inputs[1], 0) ? fill : undefined;
  };
  const same = (a: Ref, b: Ref) => key(a) === key(b);
  const usedOnce = (...nodes: number[]) => nodes.every((n) => uses.get(key({ kind: 'op', node: n, index: 0 })) === 1 && trace.ops[n].outputs.length === 1);

  /** step(x) with alpha 0 as tfjs-node writes it, optionally cast: x and the ops it takes. */
  const step = (r: Ref): { x: Ref; ops: number[] } | undefined => {
    const cast = op(r, 'Cast', 1);
    const outer = op(cast ? cast.inputs[0] : r, SELECT, 3);
    const isNan = op(outer?.inputs[0], 'IsNan', 1);
    if (!outer || !isNan || !same(outer.inputs[1], isNan.inputs[0])) return undefined;
    const x = isNan.inputs[0];
    const inner = op(outer.inputs[2], SELECT, 3);
    const greater = op(inner?.inputs[0], 'Greater', 2);
    if (!inner || !greater || !same(greater.inputs[0], x) || !constantEverywhere(greater.inputs[1], 0)) return undefined;
    const zero = zeros(inner.inputs[2]);
    if (!constantEverywhere(inner.inputs[1], 1) || !zero) return undefined;
    const ops = [...(cast ? [cast.node] : []), outer.node, isNan.node, inner.node, greater.node, ...(zero === 'constant' ? [] : [zero.node])];
    if (!usedOnce(...ops)) return undefined;
    // Everything float32 and of one shape (no broadcasting hidden in the Selects).
    const shape = JSON.stringify(trace.ops[outer.node].outputs[0].shape);
    if (trace.ops[outer.node].outputs[0].dtype !== 1 || (cast && trace.ops[cast.node].outputs[0].dtype !== 1)) return undefined;
    if (JSON.stringify(trace.ops[inner.node].outputs[0].shape) !== shape) return undefined;
    return { x, ops };
  };

  const gradients = new Map<number, ReluGradient>();
  const replaced = new Set<number>();
  trace.ops.forEach((o, i) => {
    if (o.op !== 'Mul' || o.inputs.length !== 2 || o.outputs[0].dtype !== 1) return;
    for (const side of [1, 0]) {
      const found = step(o.inputs[side]);
      const gradient = o.inputs[1 - side];
      if (!found) continue;
      const shape = JSON.stringify(o.outputs[0].shape);
      // ReluGrad does not broadcast: dy, x and the product must be one shape.
      if (JSON.stringify(metaOf(trace, gradient).shape) !== shape || JSON.stringify(metaOf(trace, found.x).shape) !== shape) continue;
      gradients.set(i, { mul: i, gradient, features: found.x });
      found.ops.forEach((n) => replaced.add(n));
      return;
    }
  });
  return { gradients, replaced };
}
