/**
 * The parts of TensorFlow's protocol buffers the compiled path writes (GraphDef, ConfigProto) and
 * reads (OpList). Field numbers are TensorFlow's (tensorflow/core/framework/*.proto and
 * tensorflow/core/protobuf/config.proto, unchanged since 1.x); fields we never use are left out,
 * which protobuf allows: a reader skips what it does not know and a writer may omit anything.
 */
import protobuf from 'protobufjs';

const SCHEMA = `
syntax = "proto3";
package tensorflow;

message TensorShapeProto {
  message Dim { int64 size = 1; string name = 2; }
  repeated Dim dim = 2;
  bool unknown_rank = 3;
}

message TensorProto {
  int32 dtype = 1;
  TensorShapeProto tensor_shape = 2;
  int32 version_number = 3;
  bytes tensor_content = 4;
  repeated float float_val = 5;
  repeated int32 int_val = 7;
  repeated bytes string_val = 8;
  repeated int64 int64_val = 10;
  repeated bool bool_val = 11;
}

message NameAttrList {
  string name = 1;
  map<string, AttrValue> attr = 2;
}

message AttrValue {
  message ListValue {
    repeated bytes s = 2;
    repeated int64 i = 3;
    repeated float f = 4;
    repeated bool b = 5;
    repeated int32 type = 6;
    repeated TensorShapeProto shape = 7;
    repeated TensorProto tensor = 8;
    repeated NameAttrList func = 9;
  }
  oneof value {
    bytes s = 2;
    int64 i = 3;
    float f = 4;
    bool b = 5;
    int32 type = 6;
    TensorShapeProto shape = 7;
    TensorProto tensor = 8;
    ListValue list = 1;
    NameAttrList func = 10;
    string placeholder = 9;
  }
}

message NodeDef {
  string name = 1;
  string op = 2;
  repeated string input = 3;
  string device = 4;
  map<string, AttrValue> attr = 5;
}

message VersionDef {
  int32 producer = 1;
  int32 min_consumer = 2;
}

message GraphDef {
  repeated NodeDef node = 1;
  VersionDef versions = 4;
}

message OpDef {
  message ArgDef {
    string name = 1;
    int32 type = 3;
    string type_attr = 4;
    string number_attr = 5;
    string type_list_attr = 6;
    bool is_ref = 16;
  }
  message AttrDef {
    string name = 1;
    string type = 2;
    AttrValue default_value = 3;
  }
  string name = 1;
  repeated ArgDef input_arg = 2;
  repeated ArgDef output_arg = 3;
  repeated AttrDef attr = 4;
  bool is_stateful = 17;
}

message OpList {
  repeated OpDef op = 1;
}

message OptimizerOptions {
  int32 global_jit_level = 5;
  bool cpu_global_jit = 7;
}

message GraphOptions {
  OptimizerOptions optimizer_options = 3;
}

message GPUOptions {
  bool allow_growth = 4;
  string visible_device_list = 5;
}

message RunOptions {
  enum TraceLevel { NO_TRACE = 0; SOFTWARE_TRACE = 1; HARDWARE_TRACE = 2; FULL_TRACE = 3; }
  TraceLevel trace_level = 1;
}

message NodeExecStats {
  string node_name = 1;
  int64 all_start_micros = 2;
  int64 op_start_rel_micros = 3;
  int64 op_end_rel_micros = 4;
  int64 all_end_rel_micros = 5;
  string timeline_label = 8;
  uint32 thread_id = 10;
  int64 all_start_nanos = 13;
  int64 op_start_rel_nanos = 14;
  int64 op_end_rel_nanos = 15;
}

message DeviceStepStats {
  string device = 1;
  repeated NodeExecStats node_stats = 2;
}

message StepStats {
  repeated DeviceStepStats dev_stats = 1;
}

message RunMetadata {
  StepStats step_stats = 1;
}

message ConfigProto {
  int32 intra_op_parallelism_threads = 2;
  int32 inter_op_parallelism_threads = 5;
  GPUOptions gpu_options = 6;
  bool allow_soft_placement = 7;
  GraphOptions graph_options = 10;
}
`;

const root = protobuf.parse(SCHEMA, { keepCase: true }).root;

export const GraphDef = root.lookupType('tensorflow.GraphDef');
export const OpList = root.lookupType('tensorflow.OpList');
export const ConfigProto = root.lookupType('tensorflow.ConfigProto');
const RunOptions = root.lookupType('tensorflow.RunOptions');
const RunMetadata = root.lookupType('tensorflow.RunMetadata');

/** RunOptions that ask a session run for every op's timings (FULL_TRACE). */
export const TRACE_RUN_OPTIONS: Uint8Array = RunOptions.encode(RunOptions.fromObject({ trace_level: 3 })).finish();

/** One op execution of a traced run: the node (after Grappler's rewrites), its op type, when and how long it ran. */
export interface OpTiming {
  node: string;
  op: string;
  device: string;
  thread: number;
  /** Start, microseconds since the epoch (nanosecond resolution where TensorFlow gives it). */
  startMicros: number;
  /** Time inside the op's kernel. */
  micros: number;
}

/**
 * The op timings in a serialized RunMetadata. The op type is read from the timeline label
 * (`name = Op(inputs)`), since Grappler renames and fuses nodes (`_FusedConv2D`, `_MklFusedBatchNorm…`).
 */
export function decodeOpTimings(metadata: Uint8Array): OpTiming[] {
  type Stats = { node_name: string; timeline_label: string; thread_id: number; all_start_micros: number; op_start_rel_micros: number; op_end_rel_micros: number; all_start_nanos: number; op_start_rel_nanos: number; op_end_rel_nanos: number };
  const m = RunMetadata.toObject(RunMetadata.decode(metadata), { defaults: true, longs: Number, arrays: true }) as { step_stats?: { dev_stats: { device: string; node_stats: Stats[] }[] } };
  return (m.step_stats?.dev_stats ?? []).flatMap((d) =>
    d.node_stats.map((n) => {
      const nanos = n.all_start_nanos > 0;
      return {
        node: n.node_name,
        op: /^[^=]*=\s*([\w.]+)\(/.exec(n.timeline_label)?.[1] ?? n.node_name.replace(/.*\//, ''),
        device: d.device,
        thread: n.thread_id,
        startMicros: nanos ? n.all_start_nanos / 1000 : n.all_start_micros,
        micros: nanos ? (n.op_end_rel_nanos - n.op_start_rel_nanos) / 1000 : n.op_end_rel_micros - n.op_start_rel_micros,
      };
    }),
  );
}

/** TensorFlow's DataType numbers (types.proto), the ones tfjs tensors can have. */
export const DT = { FLOAT: 1, INT32: 3, UINT8: 4, STRING: 7, COMPLEX64: 8, INT64: 9, BOOL: 10, RESOURCE: 20 } as const;

export interface AttrValue {
  s?: Uint8Array;
  i?: number;
  f?: number;
  b?: boolean;
  type?: number;
  shape?: { dim: { size: number }[]; unknown_rank?: boolean };
  tensor?: TensorProto;
  list?: { s?: Uint8Array[]; i?: number[]; f?: number[]; b?: boolean[]; type?: number[]; shape?: { dim: { size: number }[] }[] };
}

export interface TensorProto {
  dtype: number;
  tensor_shape: { dim: { size: number }[] };
  tensor_content?: Uint8Array;
  string_val?: Uint8Array[];
}

export interface NodeDef {
  name: string;
  op: string;
  input: string[];
  device?: string;
  attr: Record<string, AttrValue>;
}

export interface ArgDef { name: string; type: number; type_attr: string; number_attr: string; type_list_attr: string }
export interface OpDef { name: string; input_arg: ArgDef[]; output_arg: ArgDef[]; attr: { name: string; type: string; default_value?: AttrValue }[]; is_stateful: boolean }

export function encodeGraphDef(nodes: NodeDef[], producer: number): Uint8Array {
  return GraphDef.encode(GraphDef.fromObject({ node: nodes, versions: { producer, min_consumer: 0 } })).finish();
}

export function decodeOpList(bytes: Uint8Array): OpDef[] {
  const list = OpList.toObject(OpList.decode(bytes), { defaults: true, longs: Number, arrays: true }) as { op: OpDef[] };
  return list.op;
}

export interface SessionConfig {
  /** Threads for one op (0: TensorFlow's default, all cores). */
  intraOpThreads: number;
  interOpThreads: number;
  /** XLA auto-clustering (global JIT), CPU included. */
  xla: boolean;
}

export function encodeConfig(c: SessionConfig): Uint8Array {
  return ConfigProto.encode(ConfigProto.fromObject({
    intra_op_parallelism_threads: c.intraOpThreads,
    inter_op_parallelism_threads: c.interOpThreads,
    allow_soft_placement: true,
    gpu_options: { allow_growth: true },
    graph_options: { optimizer_options: c.xla ? { global_jit_level: 1, cpu_global_jit: true } : {} },
  })).finish();
}
