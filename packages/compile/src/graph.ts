/**
 * A recorded step as a TensorFlow GraphDef. Weights and optimizer slots become resource
 * variables (VarHandleOp with a shared name, so every graph imported into one session sees the
 * same variable); the step's inputs become placeholders; values JavaScript made become
 * constants; the recorded ops keep their attributes, with the ones eager execution infers from
 * the inputs (types, list lengths) filled in from TensorFlow's own op definitions.
 */
import type { AttrValue, NodeDef, OpDef } from './proto.js';
import type { OpAttr, Ref, Trace } from './trace.js';

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
 * The step as nodes to import under a prefix. Node names: `input<i>`, `const<i>`, `var<i>`
 * (handle), `var<i>/read`, `op<i>`, `var<i>/assign`.
 */
export function buildGraphDef(trace: Trace, opDefs: Map<string, OpDef>, prefix: string): StepGraph {
  const nodes: NodeDef[] = [];
  const name = (ref: Ref): string => {
    switch (ref.kind) {
      case 'op': return `op${ref.node}:${ref.index}`;
      case 'variable': return `var${ref.index}/read:0`;
      case 'input': return `input${ref.index}:0`;
      case 'constant': return `const${ref.index}:0`;
    }
  };
  const typeOf = (ref: Ref): number => {
    switch (ref.kind) {
      case 'op': return trace.ops[ref.node].outputs[ref.index].dtype;
      case 'variable': return trace.variables[ref.index].meta.dtype;
      case 'input': return trace.inputs[ref.index].dtype;
      case 'constant': return trace.constants[ref.index].dtype;
    }
  };
  trace.inputs.forEach((m, i) => nodes.push({ name: `input${i}`, op: 'Placeholder', input: [], attr: { dtype: { type: m.dtype }, shape: shapeAttr(m.shape) } }));
  trace.constants.forEach((c, i) => nodes.push({
    name: `const${i}`, op: 'Const', input: [],
    attr: { dtype: { type: c.dtype }, value: { tensor: { dtype: c.dtype, tensor_shape: { dim: c.shape.map((size) => ({ size })) }, tensor_content: new Uint8Array(c.values.buffer, c.values.byteOffset, c.values.byteLength) } } },
  }));
  trace.variables.forEach((v, i) => {
    nodes.push({ name: `var${i}`, op: 'VarHandleOp', input: [], attr: { dtype: { type: v.meta.dtype }, shape: shapeAttr(v.meta.shape), shared_name: { s: Buffer.from(sharedName(v.variable)) }, container: { s: Buffer.from('') } } });
    nodes.push({ name: `var${i}/read`, op: 'ReadVariableOp', input: [`var${i}`], attr: { dtype: { type: v.meta.dtype } } });
  });
  trace.ops.forEach((o, i) => {
    const def = opDefs.get(o.op);
    if (!def) throw new UnsupportedOp(`op ${o.op} is not registered in this libtensorflow`);
    const attr: Record<string, AttrValue> = {};
    for (const a of o.attrs) attr[a.name] = attrValue(a);
    inferAttrs(def, attr, o.inputs.map(typeOf));
    nodes.push({ name: `op${i}`, op: o.op, input: o.inputs.map(name), attr });
  });
  // Each assign waits for its variable's read, so every op of the step sees the old value.
  const targets = trace.assigns.map((a) => {
    const v = trace.variables[a.variable];
    const node = `var${a.variable}/assign`;
    nodes.push({ name: node, op: 'AssignVariableOp', input: [`var${a.variable}`, name(a.value), `^var${a.variable}/read`], attr: { dtype: { type: v.meta.dtype } } });
    return `${prefix}${node}`;
  });
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
