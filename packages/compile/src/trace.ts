/**
 * Records what one eager step does to TensorFlow: every op tfjs-node sends through its binding
 * (`executeOp(name, attrs, inputIds, nOutputs)`, the one door every kernel goes through), every
 * tensor JavaScript creates on the way (`createTensor`), and which tfjs variables end the step
 * pointing at new values (tfjs's Variable.assign swaps a data id in JavaScript and never reaches
 * TensorFlow, so it is read off the variables afterwards). The step really runs while it is
 * recorded; the recording is what {@link buildGraphDef} turns into a graph.
 */
import type * as tfjs from '@tensorflow/tfjs';

/** The tfjs namespace the caller uses (tfjs-node's), passed in so this package never loads a second copy. */
export type TF = typeof tfjs;
type Tensor = tfjs.Tensor;
type Variable = tfjs.Variable;
type TypedArray = Float32Array | Int32Array | Uint8Array;

/** tfjs-node's op attribute, as the binding takes it (type: TF_AttrType number). */
export interface OpAttr { name: string; type: number; value: unknown }

export interface TensorMeta { dtype: number; shape: number[] }

/** Where a recorded op's input comes from. */
export type Ref =
  | { kind: 'op'; node: number; index: number }
  | { kind: 'variable'; index: number }
  | { kind: 'input'; index: number }
  | { kind: 'constant'; index: number };

export interface RecordedOp { op: string; attrs: OpAttr[]; inputs: Ref[]; outputs: TensorMeta[] }
export interface Constant extends TensorMeta { values: TypedArray }

export interface Trace {
  ops: RecordedOp[];
  constants: Constant[];
  inputs: TensorMeta[];
  /** Every registered tfjs variable the step read or assigned, in first-seen order. */
  variables: { variable: Variable; meta: TensorMeta }[];
  /** Variables that end the step holding a new value, and where it comes from. */
  assigns: { variable: number; value: Ref }[];
  outputs: { name: string; ref: Ref; meta: TensorMeta }[];
  /** Why this recording cannot become a graph, if it cannot. */
  unusable?: string;
  /** The step created variables (e.g. an optimizer's slots on its first call): record again. */
  createdVariables: boolean;
}

/** The parts of tfjs-node's binding and backend the recorder uses. */
export interface NodeBinding {
  executeOp(name: string, attrs: OpAttr[], inputIds: number[], nOutputs: number): { id: number; shape: number[]; dtype: number }[];
  createTensor(shape: number[], dtype: number, values: TypedArray): number;
  tensorDataSync(id: number): TypedArray;
  deleteTensor(id: number): void;
  TF_FLOAT: number;
  TF_INT32: number;
  TF_BOOL: number;
  TF_ATTR_TYPE: number;
}
interface NodeBackend {
  binding: NodeBinding;
  getInputTensorIds(tensors: Tensor[]): number[];
}

export function nodeBackend(tf: TF): NodeBackend {
  const backend = tf.backend() as unknown as Partial<NodeBackend>;
  if (!backend.binding || typeof backend.getInputTensorIds !== 'function') throw new Error(`the compiled path needs the TensorFlow backend of tfjs-node; the active backend is "${tf.getBackend()}"`);
  return backend as NodeBackend;
}

const DTYPE: Record<string, number> = { float32: 1, int32: 3, bool: 10, string: 7, complex64: 8 };
export function dtypeNumber(dtype: string): number {
  const n = DTYPE[dtype];
  if (n === undefined) throw new Error(`no TensorFlow type for tfjs dtype ${dtype}`);
  return n;
}

/** Every tfjs variable the engine knows (model weights, optimizer slots, any tf.variable). */
export function registeredVariables(tf: TF): Variable[] {
  return Object.values((tf.engine() as unknown as { state: { registeredVariables: Record<string, Variable> } }).state.registeredVariables);
}

/**
 * Runs `fn(...inputs)` eagerly inside tf.tidy while recording it. Returns the step's outputs (as
 * the eager call made them) and the recording.
 */
/** A value's key for maps: `op:<node>:<output>`, `input:<i>`, `variable:<i>` or `constant:<i>`. */
export const refKey = (r: Ref): string => `${r.kind}:${r.kind === 'op' ? `${r.node}:${r.index}` : r.index}`;

/** The dtype and shape of a value in a recording. */
export function metaOf(trace: Trace, r: Ref): TensorMeta {
  switch (r.kind) {
    case 'op': return trace.ops[r.node].outputs[r.index];
    case 'variable': return trace.variables[r.index].meta;
    case 'input': return trace.inputs[r.index];
    case 'constant': return trace.constants[r.index];
  }
}

/** How many times each value (by {@link refKey}) is read: as an op's input, an assign's value or an output. */
export function useCounts(trace: Trace): Map<string, number> {
  const uses = new Map<string, number>();
  const use = (r: Ref) => uses.set(refKey(r), (uses.get(refKey(r)) ?? 0) + 1);
  for (const o of trace.ops) o.inputs.forEach(use);
  for (const a of trace.assigns) use(a.value);
  for (const o of trace.outputs) use(o.ref);
  return uses;
}

/**
 * A tensor with the same values as `x` in a buffer of its own, for a variable's initial or
 * assigned value. `tf.variable(x)`, `x.clone()` and `v.assign(x)` share x's buffer, and a
 * compiled step cannot tell two variables on one buffer apart (recordStep refuses them).
 */
export function ownCopy<T extends Tensor>(tf: TF, x: T): T {
  return tf.tensor(x.dataSync() as Float32Array, x.shape, x.dtype as 'float32') as unknown as T;
}

/** A new non-trainable variable holding {@link ownCopy} of `x` (a moving average's start, say). */
export function ownVariable(tf: TF, x: Tensor): Variable {
  return tf.tidy(() => tf.variable(ownCopy(tf, x), false));
}

/** `v.assign(x)` with {@link ownCopy} of `x`, so that `v` and whatever holds `x` stay on buffers of their own. */
export function assignOwnCopy(tf: TF, v: Variable, x: Tensor): void {
  tf.tidy(() => v.assign(ownCopy(tf, x)));
}

export function recordStep<O extends Record<string, Tensor>>(tf: TF, fn: (...inputs: Tensor[]) => O, inputs: Tensor[]): { result: O; trace: Trace } {
  const backend = nodeBackend(tf);
  const binding = backend.binding;
  const original = { executeOp: binding.executeOp, createTensor: binding.createTensor, tensorDataSync: binding.tensorDataSync };
  const trace: Trace = { ops: [], constants: [], inputs: inputs.map((t) => ({ dtype: dtypeNumber(t.dtype), shape: [...t.shape] })), variables: [], assigns: [], outputs: [], createdVariables: false };

  // Native ids of everything that exists before the step: inputs first, then variables.
  const known = new Map<number, Ref>();
  backend.getInputTensorIds(inputs).forEach((id, i) => known.set(id, { kind: 'input', index: i }));
  const before = registeredVariables(tf);
  const variableIds = new Map<number, Variable>();
  const dataIdsBefore = new Map<Variable, object>();
  // Variables on one buffer (one made from the other with tf.variable(x) or assign(x), which
  // share x's data): a read of it could be either, and the graph would read whichever came first.
  const sharing = new Map<number, Variable[]>();
  for (const v of before) {
    if (v.isDisposed) continue;
    const [id] = backend.getInputTensorIds([v]);
    if (variableIds.has(id)) sharing.set(id, [...(sharing.get(id) ?? [variableIds.get(id)!]), v]);
    else variableIds.set(id, v);
    dataIdsBefore.set(v, v.dataId);
  }
  const variableIndex = new Map<Variable, number>();
  const useVariable = (v: Variable) => {
    let i = variableIndex.get(v);
    if (i === undefined) {
      i = trace.variables.length;
      variableIndex.set(v, i);
      trace.variables.push({ variable: v, meta: { dtype: dtypeNumber(v.dtype), shape: [...v.shape] } });
    }
    return i;
  };
  const capture = (id: number): Ref => {
    // A tensor from before the step that is neither an input nor a variable (a captured
    // constant, e.g. a schedule computed once): its value goes into the graph.
    const values = original.tensorDataSync.call(binding, id);
    const shapeIds = original.executeOp.call(binding, 'Shape', [{ name: 'T', type: binding.TF_ATTR_TYPE, value: dtypeOfArray(binding, values) }, { name: 'out_type', type: binding.TF_ATTR_TYPE, value: binding.TF_INT32 }], [id], 1);
    const shape = Array.from(original.tensorDataSync.call(binding, shapeIds[0].id));
    binding.deleteTensor(shapeIds[0].id);
    const ref: Ref = { kind: 'constant', index: trace.constants.length };
    trace.constants.push({ dtype: dtypeOfArray(binding, values), shape, values: values.slice() });
    known.set(id, ref);
    return ref;
  };
  /** The variable whose buffer this is, if any; a shared buffer makes the recording unusable. */
  const variableRef = (id: number): Ref | undefined => {
    const v = variableIds.get(id);
    if (!v) return undefined;
    const shared = sharing.get(id);
    if (shared) trace.unusable ??= `variables ${shared.map((x) => x.name).join(' and ')} share one buffer (one was made or assigned from the other without a copy), so a recording cannot tell which the step reads; give each its own copy (ownCopy)`;
    const r: Ref = { kind: 'variable', index: useVariable(v) };
    known.set(id, r);
    return r;
  };
  const resolve = (id: number): Ref => known.get(id) ?? variableRef(id) ?? capture(id);

  const executeOp: NodeBinding['executeOp'] = (name, attrs, inputIds, nOutputs) => {
    const inputsRefs = inputIds.map(resolve);
    const out = original.executeOp.call(binding, name, attrs, inputIds, nOutputs);
    const node = trace.ops.length;
    trace.ops.push({ op: name, attrs: attrs.map((a) => ({ ...a, value: Array.isArray(a.value) ? [...a.value] : a.value })), inputs: inputsRefs, outputs: out.map((m) => ({ dtype: m.dtype, shape: [...m.shape] })) });
    out.forEach((m, index) => known.set(m.id, { kind: 'op', node, index }));
    return out;
  };
  const createTensor: NodeBinding['createTensor'] = (shape, dtype, values) => {
    const id = original.createTensor.call(binding, shape, dtype, values);
    known.set(id, { kind: 'constant', index: trace.constants.length });
    trace.constants.push({ dtype, shape: [...shape], values: values.slice() });
    return id;
  };
  const tensorDataSync: NodeBinding['tensorDataSync'] = (id) => {
    const last = trace.ops[trace.ops.length - 1]?.op;
    trace.unusable ??= `the step reads a tensor's values in JavaScript${last ? ` (after op ${last})` : ''}, so later steps may depend on data the graph cannot see`;
    return original.tensorDataSync.call(binding, id);
  };

  // The addon's methods are read-only properties; the backend's reference to it is not.
  const recording = Object.create(binding, { executeOp: { value: executeOp }, createTensor: { value: createTensor }, tensorDataSync: { value: tensorDataSync } }) as NodeBinding;
  let result: O;
  backend.binding = recording;
  try {
    result = tf.tidy(fn.bind(null, ...inputs) as () => O);
  } finally {
    backend.binding = binding;
  }

  const after = registeredVariables(tf);
  trace.createdVariables = after.some((v) => !dataIdsBefore.has(v) && !v.isDisposed);
  for (const v of after) {
    const old = dataIdsBefore.get(v);
    if (old === undefined || v.isDisposed || v.dataId === old) continue;
    const [id] = backend.getInputTensorIds([v]);
    const value = known.get(id) ?? variableRef(id);
    if (!value) {
      trace.unusable ??= `variable ${v.name} was assigned a tensor made outside the step`;
      continue;
    }
    trace.assigns.push({ variable: useVariable(v), value });
  }
  for (const [name, t] of Object.entries(result)) {
    const [id] = backend.getInputTensorIds([t]);
    const ref = known.get(id) ?? variableRef(id);
    if (!ref) {
      trace.unusable ??= `output ${name} was made outside the step`;
      continue;
    }
    trace.outputs.push({ name, ref, meta: { dtype: dtypeNumber(t.dtype), shape: [...t.shape] } });
  }
  return { result, trace };
}

function dtypeOfArray(binding: NodeBinding, values: TypedArray): number {
  if (values instanceof Float32Array) return binding.TF_FLOAT;
  if (values instanceof Int32Array) return binding.TF_INT32;
  return binding.TF_BOOL;
}

/**
 * A canonical text of a recording (ids replaced by positions, constants by their bytes), so two
 * recordings of the same step compare equal exactly when they describe the same graph with the
 * same constants. Returns the lines, so a difference can be located.
 */
export function canonicalLines(trace: Trace): string[] {
  const ref = (r: Ref) => `${r.kind[0]}${r.kind === 'op' ? `${r.node}:${r.index}` : r.index}`;
  const lines = trace.inputs.map((m, i) => `input ${i} ${m.dtype} [${m.shape}]`);
  trace.variables.forEach((v, i) => lines.push(`variable ${i} ${v.variable.name} ${v.meta.dtype} [${v.meta.shape}]`));
  trace.constants.forEach((c, i) => lines.push(`constant ${i} ${c.dtype} [${c.shape}] ${Buffer.from(c.values.buffer, c.values.byteOffset, c.values.byteLength).toString('base64')}`));
  trace.ops.forEach((o, i) => lines.push(`op ${i} ${o.op} ${JSON.stringify(o.attrs)} (${o.inputs.map(ref).join(' ')})`));
  trace.assigns.forEach((a) => lines.push(`assign ${a.variable} ${ref(a.value)}`));
  trace.outputs.forEach((o) => lines.push(`output ${o.name} ${ref(o.ref)}`));
  return lines;
}

/** Why two recordings of one step differ (the first difference, in words), or undefined. */
export function differenceBetween(a: Trace, b: Trace): string | undefined {
  const la = canonicalLines(a);
  const lb = canonicalLines(b);
  const n = Math.max(la.length, lb.length);
  for (let i = 0; i < n; i++) {
    if (la[i] === lb[i]) continue;
    const line = la[i] ?? lb[i];
    if (line.startsWith('constant')) {
      const index = Number(line.split(' ')[1]);
      const user = a.ops.find((o) => o.inputs.some((r) => r.kind === 'constant' && r.index === index));
      return `a value made in JavaScript changes from step to step (an input of op ${user?.op ?? '?'}); pass it to the step as an input`;
    }
    if (line.startsWith('op')) return `the step runs different ops from one call to the next (op ${i - la.findIndex((l) => l.startsWith('op'))}: ${(la[i] ?? '—').split(' ')[2]} vs ${(lb[i] ?? '—').split(' ')[2]}): a branch in JavaScript depends on data`;
    return `the step changes between calls (${line.split(' ')[0]})`;
  }
  return undefined;
}
