/**
 * A recorded step as a TensorFlow GraphDef. Weights and optimizer slots become resource
 * variables (VarHandleOp with a shared name, so every graph imported into one session sees the
 * same variable); the step's inputs become placeholders; values JavaScript made become
 * constants; the recorded ops keep their attributes, with the ones eager execution infers from
 * the inputs (types, list lengths) filled in from TensorFlow's own op definitions.
 */
import type { AttrValue, NodeDef, OpDef } from './proto.js';
import { metaOf, type Constant, type OpAttr, type RecordedOp, type Ref, type Trace } from './trace.js';
import { findAdamUpdates } from './fuse-adam.js';
import { findReluGradients } from './fuse-relu-grad.js';

const DT_FLOAT = 1;
const DT_INT32 = 3;

/** TF_AttrType (tensorflow/c/tf_attrtype.h). */
const ATTR = { STRING: 0, INT: 1, FLOAT: 2, BOOL: 3, TYPE: 4, SHAPE: 5 } as const;

export interface StepGraph {
  nodes: NodeDef[];
  /** Placeholder names, in the order of the step's inputs. */
  feeds: string[];
  /** Tensor names of the step's outputs, in the trace's order. */
  fetches: string[];
  /** Assign ops to run with every step. */
  targets: string[];
}

/** The resource name of a tfjs variable inside a session. */
export function sharedName(variable: { id: number }): string {
  return `synthmix_var_${variable.id}`;
}

function shapeAttr(shape: number[]): AttrValue {
  return { shape: { dim: shape.map((size) => ({ size })) } };
}

function attrValue(a: OpAttr): AttrValue {
  const list = Array.isArray(a.value);
  switch (a.type) {
    case ATTR.STRING: return list ? { list: { s: (a.value as string[]).map((s) => Buffer.from(s)) } } : { s: Buffer.from(String(a.value)) };
    case ATTR.INT: return list ? { list: { i: a.value as number[] } } : { i: a.value as number };
    case ATTR.FLOAT: return list ? { list: { f: a.value as number[] } } : { f: a.value as number };
    case ATTR.BOOL: return list ? { list: { b: a.value as boolean[] } } : { b: Boolean(a.value) };
    case ATTR.TYPE: return list ? { list: { type: a.value as number[] } } : { type: a.value as number };
    case ATTR.SHAPE: return shapeAttr(a.value as number[]);
    default: throw new UnsupportedOp(`attribute ${a.name} has TF_AttrType ${a.type}, which the compiled path does not write`);
  }
}

export class UnsupportedOp extends Error {}

/**
 * Fills attributes eager execution infers from the inputs (a type attr from its input's dtype,
 * a list length, a list of types), which a GraphDef must state. Inputs of list arguments are
 * consecutive; a list whose length is not given takes what the fixed arguments leave.
 */
function inferAttrs(def: OpDef, attr: Record<string, AttrValue>, inputTypes: number[]): void {
  const fixed = def.input_arg.filter((a) => !a.number_attr && !a.type_list_attr).length;
  const lists = def.input_arg.filter((a) => a.number_attr || a.type_list_attr);
  let at = 0;
  for (const arg of def.input_arg) {
    let count = 1;
    if (arg.number_attr) {
      const given = attr[arg.number_attr]?.i;
      count = given !== undefined ? Number(given) : lists.length === 1 ? inputTypes.length - fixed : NaN;
      if (!Number.isFinite(count)) throw new UnsupportedOp(`${def.name}: cannot tell how many inputs belong to ${arg.name}`);
      attr[arg.number_attr] ??= { i: count };
    } else if (arg.type_list_attr) {
      const given = attr[arg.type_list_attr]?.list?.type;
      count = given ? given.length : lists.length === 1 ? inputTypes.length - fixed : NaN;
      if (!Number.isFinite(count)) throw new UnsupportedOp(`${def.name}: cannot tell how many inputs belong to ${arg.name}`);
      attr[arg.type_list_attr] ??= { list: { type: inputTypes.slice(at, at + count) } };
    }
    if (arg.type_attr && attr[arg.type_attr] === undefined && count > 0) attr[arg.type_attr] = { type: inputTypes[at] };
    at += count;
  }
}

/**
 * Whether an op is `x + b` with a bias vector b over x's last axis, which tfjs writes as a
 * broadcasting Add. As BiasAdd (the same sums) Grappler fuses it into the convolution or matmul
 * before it; as Add its remapper can fail on the whole graph.
 */
function biasAdd(o: RecordedOp, shapeOf: (r: Ref) => number[]): boolean {
  if ((o.op !== 'Add' && o.op !== 'AddV2') || o.inputs.length !== 2) return false;
  const [x, b] = o.inputs.map(shapeOf);
  return x.length >= 2 && b.length === 1 && b[0] === x[x.length - 1] && o.outputs[0].shape.join() === x.join();
}

/** Pre-activation tensor (`node:index`) → the Relu or LeakyRelu (slope ≥ 0) op applied to it. */
function activations(trace: Trace): Map<string, number> {
  const out = new Map<string, number>();
  trace.ops.forEach((o, i) => {
    const alpha = o.attrs.find((a) => a.name === 'alpha')?.value as number | undefined;
    if ((o.op === 'Relu' || (o.op === 'LeakyRelu' && (alpha ?? 0.2) >= 0)) && o.inputs[0].kind === 'op') {
      const r = o.inputs[0];
      if (r.kind === 'op') out.set(`${r.node}:${r.index}`, i);
    }
  });
  return out;
}

function isZero(trace: Trace, ref: Ref): boolean {
  if (ref.kind !== 'constant') return false;
  const c = trace.constants[ref.index];
  return c.values.every((v) => v === 0);
}

/**
 * The step as nodes to import under a prefix. Node names: `input<i>`, `const<i>`, `var<i>`
 * (handle), `var<i>/read`, `op<i>`, `var<i>/assign`. With `xla`, the step's ops are marked for
 * XLA (`_XlaCompile`, one `_XlaScope`), as `jit_scope` marks them: that graph alone is compiled
 * by XLA, in a session that compiles no other (auto-clustering is per session).
 */
export function buildGraphDef(trace: Trace, opDefs: Map<string, OpDef>, prefix: string, options: { xla?: boolean } = {}): StepGraph {
  const nodes: NodeDef[] = [];
  // An op that repeats an earlier one (same type, attributes and inputs; not stateful) is that
  // op: e.g. a GAN step that computes G(z) for the discriminator and again for the generator.
  const sameAs = new Map<number, number>();
  const adam = findAdamUpdates(trace);
  const reluGradients = findReluGradients(trace);
  // A fused update's new value is read back from its variable (after the update).
  const updatedBy = new Map(adam.updates.map((u, k) => [u.newValue, k]));
  const name = (ref: Ref): string => {
    switch (ref.kind) {
      case 'op': return updatedBy.has(ref.node) ? `adam${updatedBy.get(ref.node)}/value:0` : `op${sameAs.get(ref.node) ?? ref.node}:${ref.index}`;
      case 'variable': return `var${ref.index}/read:0`;
      case 'input': return `input${ref.index}:0`;
      case 'constant': return `const${ref.index}:0`;
    }
  };
  const typeOf = (ref: Ref): number => metaOf(trace, ref).dtype;
  const shapeOf = (ref: Ref): number[] => metaOf(trace, ref).shape;
  trace.inputs.forEach((m, i) => nodes.push({ name: `input${i}`, op: 'Placeholder', input: [], attr: { dtype: { type: m.dtype }, shape: shapeAttr(m.shape) } }));
  trace.constants.forEach((c, i) => {
    const tensor = (values: Constant['values'], shape: number[], dtype = c.dtype) => ({ tensor: { dtype, tensor_shape: { dim: shape.map((size) => ({ size })) }, tensor_content: new Uint8Array(values.buffer, values.byteOffset, values.byteLength) } });
    if (c.values.length > 1 && c.values.every((v) => v === c.values[0])) {
      // tfjs fills tensors (ones, zeros, a label) in JavaScript; a Fill keeps them out of the graph's bytes.
      nodes.push({ name: `const${i}/dims`, op: 'Const', input: [], attr: { dtype: { type: DT_INT32 }, value: tensor(Int32Array.from(c.shape), [c.shape.length], DT_INT32) } });
      nodes.push({ name: `const${i}/value`, op: 'Const', input: [], attr: { dtype: { type: c.dtype }, value: tensor(c.values.subarray(0, 1), []) } });
      nodes.push({ name: `const${i}`, op: 'Fill', input: [`const${i}/dims`, `const${i}/value`], attr: { T: { type: c.dtype }, index_type: { type: DT_INT32 } } });
    } else {
      nodes.push({ name: `const${i}`, op: 'Const', input: [], attr: { dtype: { type: c.dtype }, value: tensor(c.values, c.shape) } });
    }
  });
  trace.variables.forEach((v, i) => {
    nodes.push({ name: `var${i}`, op: 'VarHandleOp', input: [], attr: { dtype: { type: v.meta.dtype }, shape: shapeAttr(v.meta.shape), shared_name: { s: Buffer.from(sharedName(v.variable)) }, container: { s: Buffer.from('') } } });
    nodes.push({ name: `var${i}/read`, op: 'ReadVariableOp', input: [`var${i}`], attr: { dtype: { type: v.meta.dtype } } });
  });
  const seen = new Map<string, number>();
  const activationOf = activations(trace);
  /** A pre-activation's ReLU / leaky-ReLU output when it has one (same sign), else the value itself. */
  const activatedOr = (r: Ref): string => {
    const relu = r.kind === 'op' ? activationOf.get(`${r.node}:${r.index}`) : undefined;
    return name(relu === undefined ? r : { kind: 'op', node: relu, index: 0 });
  };
  trace.ops.forEach((o, i) => {
    if (adam.replaced.has(i) || reluGradients.replaced.has(i)) return;
    const relu = reluGradients.gradients.get(i);
    if (relu) {
      // dy · step(x) as one ReluGrad (fuse-relu-grad.ts), of the activation's output when there is one.
      nodes.push({ name: `op${i}`, op: 'ReluGrad', input: [name(relu.gradient), activatedOr(relu.features)], attr: { T: { type: DT_FLOAT } } });
      return;
    }
    const def = opDefs.get(o.op);
    if (!def) throw new UnsupportedOp(`op ${o.op} is not registered in this libtensorflow`);
    // tfjs's ReLU / leaky-ReLU gradients test the pre-activation (x > 0); the activation's output
    // gives the same answer (f(x) > 0 ⟺ x > 0 for slope ≥ 0, NaN included). Testing the output
    // leaves the pre-activation one consumer, which Grappler's remapper needs to fuse
    // conv + bias + activation (with two consumers it fails on the whole graph).
    const input = o.inputs.map((r, k) => (o.op === 'Greater' && k === 0 && isZero(trace, o.inputs[1]) ? activatedOr(r) : name(r)));
    const key = `${o.op} ${JSON.stringify(o.attrs)} ${input.join(',')}`;
    const earlier = seen.get(key);
    if (earlier !== undefined && !def.is_stateful) {
      sameAs.set(i, earlier);
      return;
    }
    seen.set(key, i);
    const attr: Record<string, AttrValue> = {};
    for (const a of o.attrs) attr[a.name] = attrValue(a);
    inferAttrs(def, attr, o.inputs.map(typeOf));
    nodes.push({ name: `op${i}`, op: biasAdd(o, shapeOf) ? 'BiasAdd' : o.op, input, attr: biasAdd(o, shapeOf) ? { T: attr.T } : attr });
  });
  // Each assign waits for its variable's read, so every op of the step sees the old value.
  const targets = trace.assigns.filter((a) => !adam.assigned.has(a.variable)).map((a) => {
    const v = trace.variables[a.variable];
    const node = `var${a.variable}/assign`;
    nodes.push({ name: node, op: 'AssignVariableOp', input: [`var${a.variable}`, name(a.value), `^var${a.variable}/read`], attr: { dtype: { type: v.meta.dtype } } });
    return `${prefix}${node}`;
  });
  // A fused Adam update (see fuse-adam.ts) updates its variable and moments in place, after their
  // reads (TensorFlow copies a buffer a read still holds before updating it).
  const scalarFloat = (node: string, value: number): NodeDef => ({ name: node, op: 'Const', input: [], attr: { dtype: { type: DT_FLOAT }, value: { tensor: { dtype: DT_FLOAT, tensor_shape: { dim: [] }, tensor_content: new Uint8Array(Float32Array.of(value).buffer) } } } });
  const float = { T: { type: DT_FLOAT } };
  const roots = new Map<string, string>();
  adam.updates.forEach((u, k) => {
    const at = `adam${k}`;
    nodes.push(scalarFloat(`${at}/lr`, u.learningRate), scalarFloat(`${at}/beta1`, u.beta1), scalarFloat(`${at}/beta2`, u.beta2), scalarFloat(`${at}/epsilon`, u.epsilon));
    // ε̂ = ε·√(1 − β2^t): TensorFlow adds ε to the uncorrected √v, tfjs to the corrected one.
    // One root per optimizer (its updates share 1 − β2^t).
    const oneMinus = name(u.oneMinusBeta2Power);
    if (!roots.has(oneMinus)) {
      roots.set(oneMinus, `${at}/rootOneMinusBeta2Power`);
      nodes.push({ name: `${at}/rootOneMinusBeta2Power`, op: 'Sqrt', input: [oneMinus], attr: float });
    }
    nodes.push({ name: `${at}/epsilonHat`, op: 'Mul', input: [`${at}/epsilon`, roots.get(oneMinus)!], attr: float });
    const reads = [u.value, u.m, u.v].map((v) => `^var${v}/read`);
    nodes.push({ name: at, op: 'ResourceApplyAdam', input: [`var${u.value}`, `var${u.m}`, `var${u.v}`, `var${u.beta1PowerVariable}/read`, `var${u.beta2PowerVariable}/read`, `${at}/lr`, `${at}/beta1`, `${at}/beta2`, `${at}/epsilonHat`, name(u.gradient), ...reads], attr: { T: { type: DT_FLOAT }, use_locking: { b: false }, use_nesterov: { b: false } } });
    nodes.push({ name: `${at}/value`, op: 'ReadVariableOp', input: [`var${u.value}`, `^${at}`], attr: { dtype: { type: DT_FLOAT } } });
    targets.push(`${prefix}${at}`);
  });
  if (options.xla) {
    for (const node of nodes) {
      if (node.op === 'Placeholder' || node.op === 'VarHandleOp') continue;
      node.attr = { ...node.attr, _XlaCompile: { b: true }, _XlaScope: { s: Buffer.from(`${prefix}xla`) } };
    }
  }
  return {
    nodes,
    feeds: trace.inputs.map((_, i) => `${prefix}input${i}:0`),
    fetches: trace.outputs.map((o) => `${prefix}${name(o.ref)}`),
    targets,
  };
}

/** Nodes that set and read one variable from JavaScript: `<prefix>value` → `<prefix>assign`, `<prefix>read`. */
export function variableAccessNodes(variable: { id: number }, meta: { dtype: number; shape: number[] }): NodeDef[] {
  const dtype = { type: meta.dtype };
  return [
    { name: 'handle', op: 'VarHandleOp', input: [], attr: { dtype, shape: shapeAttr(meta.shape), shared_name: { s: Buffer.from(sharedName(variable)) }, container: { s: Buffer.from('') } } },
    { name: 'value', op: 'Placeholder', input: [], attr: { dtype, shape: shapeAttr(meta.shape) } },
    { name: 'assign', op: 'AssignVariableOp', input: ['handle', 'value'], attr: { dtype } },
    { name: 'read', op: 'ReadVariableOp', input: ['handle'], attr: { dtype } },
  ];
}
