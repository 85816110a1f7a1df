/**
 * Finds tfjs's Adam update in a recording so the graph can run it as one ResourceApplyAdam per
 * variable instead of ~14 elementwise ops (each a pass over the variable's memory: on the DCGAN
 * that was 59 ms a step of Mul alone, against 4 ms for PyTorch's fused Adam).
 *
 * tfjs 4.x (`adam_optimizer.ts`) writes, per variable `value` with moments `m`, `v`, gradient `g`
 * and accumulators `p1 = β1^t`, `p2 = β2^t` (variables, read before the step updates them):
 *
 *     m' = m·β1 + g·(1−β1)                       v' = v·β2 + g²·(1−β2)
 *     value' = (m'/(1−p1)) / (√(v'/(1−p2)) + ε) · (−lr) + value
 *
 * TensorFlow's ResourceApplyAdam computes the same thing with ε on the uncorrected √v':
 * lr·√(1−p2)/(1−p1) · m'/(√v' + ε̂), which equals tfjs's when ε̂ = ε·√(1−p2). Both round in
 * float32, in a different order: the results agree within the compiled path's tolerance, not bit
 * for bit. Anything that does not match the pattern exactly (another optimizer, another tfjs,
 * an intermediate used elsewhere) is left as it was recorded; only the new value may have other
 * consumers, which then read the variable after the update.
 */
import { refKey as key, useCounts, type Constant, type RecordedOp, type Ref, type Trace } from './trace.js';

export interface AdamUpdate {
  /** Trace variable indices. */
  value: number;
  /** The recorded op that made the variable's new value; its other consumers (e.g. an EMA of the weights) read the variable after the update. */
  newValue: number;
  m: number;
  v: number;
  gradient: Ref;
  /** `1 − β1^t` and `1 − β2^t` as recorded (ops of the step); β^t is `1 − that`. */
  beta1PowerVariable: number;
  beta2PowerVariable: number;
  oneMinusBeta2Power: Ref;
  learningRate: number;
  beta1: number;
  beta2: number;
  epsilon: number;
}

export interface AdamFusion {
  updates: AdamUpdate[];
  /** Recorded ops the fused updates replace (not written to the graph). */
  replaced: Set<number>;
  /** Variables whose assign a fused update makes. */
  assigned: Set<number>;
}

const ADD = new Set(['Add', 'AddV2']);
const DIV = new Set(['RealDiv', 'Div']);

export function findAdamUpdates(trace: Trace): AdamFusion {
  const uses = useCounts(trace);
  const assignedTo = new Map(trace.assigns.map((a) => [key(a.value), a.variable]));

  const op = (r: Ref | undefined, types: Set<string> | string, inputs: number): RecordedOp | undefined => {
    if (r?.kind !== 'op' || r.index !== 0) return undefined;
    const o = trace.ops[r.node];
    const ok = typeof types === 'string' ? o.op === types : types.has(o.op);
    return ok && o.inputs.length === inputs && o.outputs[0].dtype === 1 ? o : undefined;
  };
  const scalar = (r: Ref | undefined): number | undefined => {
    if (r?.kind !== 'constant') return undefined;
    const c: Constant = trace.constants[r.index];
    return c.values.length === 1 && c.values instanceof Float32Array ? c.values[0] : undefined;
  };
  const variable = (r: Ref | undefined): number | undefined => (r?.kind === 'variable' ? r.index : undefined);
  const usedOnce = (...refs: Ref[]) => refs.every((r) => uses.get(key(r)) === 1);
  /** `x·c` with the scalar constant c on the right, as tfjs writes `mul(x, number)`. */
  const timesConstant = (r: Ref): { x: Ref; c: number } | undefined => {
    const o = op(r, 'Mul', 2);
    const c = scalar(o?.inputs[1]);
    return o && c !== undefined ? { x: o.inputs[0], c } : undefined;
  };
  /** `1 − p` for a variable p (an accumulated β^t). */
  const oneMinusVariable = (r: Ref): number | undefined => {
    const o = op(r, 'Sub', 2);
    return o && scalar(o.inputs[0]) === 1 ? variable(o.inputs[1]) : undefined;
  };
  /** `x·β + y·(1−β)` with the two products used only here. */
  const movingAverage = (r: Ref): { x: Ref; y: Ref; beta: number } | undefined => {
    const o = op(r, ADD, 2);
    if (!o) return undefined;
    const [a, b] = o.inputs;
    const keep = timesConstant(a);
    const mix = timesConstant(b);
    if (!keep || !mix || !usedOnce(a, b)) return undefined;
    // tfjs computes 1 − β in double from its own β, then each becomes float32: equal within rounding.
    if (Math.abs(keep.c + mix.c - 1) > 2 ** -22) return undefined;
    return { x: keep.x, y: mix.x, beta: keep.c };
  };

  const updates: AdamUpdate[] = [];
  const replaced = new Set<number>();
  const assigned = new Set<number>();
  for (const assign of trace.assigns) {
    const step = assign.value;
    const sum = op(step, ADD, 2);
    if (!sum || variable(sum.inputs[1]) !== assign.variable) continue;
    const scaled = timesConstant(sum.inputs[0]);
    if (!scaled || !usedOnce(sum.inputs[0])) continue;
    const ratio = op(scaled.x, DIV, 2);
    if (!ratio || !usedOnce(scaled.x)) continue;
    const [mHatRef, denominatorRef] = ratio.inputs;
    const denominator = op(denominatorRef, ADD, 2);
    const epsilon = scalar(denominator?.inputs[1]);
    if (!denominator || epsilon === undefined || !usedOnce(denominatorRef)) continue;
    const root = op(denominator.inputs[0], 'Sqrt', 1);
    if (!root || !usedOnce(denominator.inputs[0])) continue;
    const vHat = op(root.inputs[0], DIV, 2);
    const mHat = op(mHatRef, DIV, 2);
    if (!vHat || !mHat || !usedOnce(root.inputs[0], mHatRef)) continue;
    const [mNewRef, oneMinusP1] = mHat.inputs;
    const [vNewRef, oneMinusP2] = vHat.inputs;
    const p1 = oneMinusVariable(oneMinusP1);
    const p2 = oneMinusVariable(oneMinusP2);
    const m = assignedTo.get(key(mNewRef));
    const v = assignedTo.get(key(vNewRef));
    // The new moments feed the update and their own assign, nothing else.
    if (p1 === undefined || p2 === undefined || m === undefined || v === undefined || uses.get(key(mNewRef)) !== 2 || uses.get(key(vNewRef)) !== 2) continue;
    const first = movingAverage(mNewRef);
    const second = movingAverage(vNewRef);
    if (!first || !second || variable(first.x) !== m || variable(second.x) !== v) continue;
    const squared = op(second.y, 'Square', 1);
    if (!squared || !usedOnce(second.y) || key(squared.inputs[0]) !== key(first.y)) continue;
    if (new Set([assign.variable, m, v, p1, p2]).size !== 5) continue;

    const ops = [step, sum.inputs[0], scaled.x, denominatorRef, denominator.inputs[0], root.inputs[0], mHatRef, mNewRef, vNewRef, second.y];
    for (const r of [mNewRef, vNewRef]) ops.push(...trace.ops[(r as { node: number }).node].inputs);
    for (const r of ops) replaced.add((r as { node: number }).node);
    for (const variableIndex of [assign.variable, m, v]) assigned.add(variableIndex);
    updates.push({ value: assign.variable, newValue: (step as { node: number }).node, m, v, gradient: first.y, beta1PowerVariable: p1, beta2PowerVariable: p2, oneMinusBeta2Power: oneMinusP2, learningRate: -scaled.c, beta1: first.beta, beta2: second.beta, epsilon });
  }
  return { updates, replaced, assigned };
}
