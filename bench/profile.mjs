#!/usr/bin/env node
// Where a training step's time goes, on both sides: synthmix's compiled step traced by
// TensorFlow (every op's kernel time, after Grappler's rewrites and fusions) beside PyTorch's
// profiler on the same model (self CPU time per aten op), grouped into the same kinds of work.
// Not a speed measurement (tracing slows both sides): bench/run.mjs is that. Prints a Markdown
// report and writes bench/results/profile-<model>.json.
// Usage: npm run bench:profile [-- --models dcgan,cnn,ddpm] [-- --steps 5] [-- --variant tuned]
//   ONEDNN_MAX_CPU_ISA=AVX2 npm run bench:profile   the same under an AVX2 emulation.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const arg = (name, fallback) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : fallback);
const models = arg('--models', 'dcgan').split(',');
const steps = Number(arg('--steps', '5'));
const variant = arg('--variant', 'tuned');
const log = (m) => process.stderr.write(`profile: ${m}\n`);

const { cpuFactsWithIsa, cpuLine } = await import(path.join(root, 'scripts/cpu-facts.mjs'));
const { buildCnn, buildDcgan, buildDdpm, startTorch, torchVenv } = await import(path.join(here, 'models.mjs'));
const BUILDERS = { cnn: buildCnn, dcgan: buildDcgan, ddpm: buildDdpm };

/**
 * Kinds of work, by op name on either side (TensorFlow op types, PyTorch aten ops); the first
 * that matches. What matches none is "other" and is listed by name.
 */
const KINDS = [
  ['convolution, backward', /Conv2DBackprop|conv.*backward|ConvBackprop/i],
  ['convolution, forward', /Conv2D|convolution|conv_transpose|conv2d/i],
  ['batch norm', /BatchNorm|batch_norm/i],
  ['optimizer (Adam)', /ApplyAdam|_fused_adam|adam/i],
  ['matrix product', /MatMul|addmm|\bmm\b|linear|BatchMatMul/i],
  ['reductions', /^(Mean|Sum|Max|Min|Prod|ArgMax)$|aten::(mean|sum|max|min)$/i],
  ['activations and their gradients', /Relu|Elu|Sigmoid|Tanh|Softplus|silu|swish|leaky|gelu/i],
  ['losses', /CrossEntropy|binary_cross|log_sigmoid|mse/i],
  ['layout: transposes, reorders, copies', /Transpose|Reorder|copy_|contiguous|clone|to_dense|_to_copy|Identity|Reshape|view|permute|Pad/i],
  ['variables: reads and assigns', /VariableOp|AssignVariable|ReadVariable|VarHandle/i],
  ['elementwise arithmetic', /^(AddV2|Add|AddN|Sub|Mul|RealDiv|Div|Square|SquaredDifference|Sqrt|Rsqrt|Neg|Maximum|Minimum|Exp|Log|Log1p|Abs|Pow|Cast|Select|SelectV2|Greater|Less|Equal|BiasAdd|BiasAddGrad|FloorDiv|Reciprocal|ZerosLike|OnesLike|Fill|Tile|BroadcastTo|Sign|StopGradient)$|aten::(add|add_|sub|mul|mul_|div|div_|addcmul_|addcdiv_|sqrt|lerp_|neg|exp|pow|fill_|zero_|ones_like|zeros_like|where|rsub|_foreach.*)$/i],
];
const kindOf = (name) => KINDS.find(([, re]) => re.test(name))?.[0] ?? 'other';

/** Per op name: calls and total milliseconds per step, from a list of { name, calls, us }. */
function table(ops) {
  const byName = new Map();
  for (const o of ops) {
    const row = byName.get(o.name) ?? { name: o.name, kind: kindOf(o.name), calls: 0, ms: 0 };
    row.calls += o.calls / steps;
    row.ms += o.us / 1000 / steps;
    byName.set(o.name, row);
  }
  return [...byName.values()].sort((a, b) => b.ms - a.ms);
}

function byKind(rows) {
  const kinds = new Map();
  for (const r of rows) kinds.set(r.kind, (kinds.get(r.kind) ?? 0) + r.ms);
  return kinds;
}

const facts = await cpuFactsWithIsa();
const torch = await startTorch(torchVenv());
const report = [`# Where a step's time goes — ${new Date().toISOString().slice(0, 10)}`, '', cpuLine(facts), '', `${steps} steps traced after warm-up; synthmix compiled (TensorFlow's FULL_TRACE, kernel time per op after Grappler) against PyTorch ${torch.info.torch} \`${variant}\` (torch.profiler, self CPU time per op). Tracing adds time per op on both sides: compare kinds, not totals with bench/run.mjs.`, ''];
const saved = {};
for (const model of models) {
  log(`${model}: building and warming up`);
  const ops = [];
  let recording = false;
  const ours = BUILDERS[model]({ mode: 'on', opTimings: (timings) => recording && ops.push(...timings.map((t) => ({ name: t.op, calls: 1, us: t.micros }))) });
  for (let i = 0; i < 4; i++) ours.step();
  recording = true;
  let t = performance.now();
  for (let i = 0; i < steps; i++) ours.step();
  const oursWallMs = (performance.now() - t) / steps;
  recording = false;
  ours.dispose();
  const built = await torch.ask({ build: model, variant });
  if (!built.ready) throw new Error(`PyTorch ${variant} ${model} did not build: ${built.error}`);
  t = performance.now();
  const theirsRaw = await torch.ask({ profile: model, variant, steps });
  const theirsWallMs = (performance.now() - t) / steps;
  // Self time of aten ops only: the profiler also lists Python-level ranges (Optimizer.step) whose self time is bookkeeping.
  const theirs = table(theirsRaw.ops.filter((o) => o.name.startsWith('aten::') || o.name.startsWith('mkldnn')).map((o) => ({ name: o.name, calls: o.calls, us: o.self_us })));
  const mine = table(ops);
  const [kindsOurs, kindsTheirs] = [byKind(mine), byKind(theirs)];
  const total = (rows) => rows.reduce((s, r) => s + r.ms, 0);
  report.push(`## ${model}`, '', `Traced wall clock per step: synthmix ${oursWallMs.toFixed(0)} ms, PyTorch ${theirsWallMs.toFixed(0)} ms. Op time per step (both threads' ops summed): synthmix ${total(mine).toFixed(0)} ms in ${mine.reduce((s, r) => s + r.calls, 0).toFixed(0)} op calls, PyTorch ${total(theirs).toFixed(0)} ms in ${theirs.reduce((s, r) => s + r.calls, 0).toFixed(0)}.`, '');
  report.push('| kind of work | synthmix ms/step | PyTorch ms/step | difference |', '|---|---:|---:|---:|');
  const kinds = [...new Set([...KINDS.map(([k]) => k), 'other'])];
  for (const k of kinds) {
    const [a, b] = [kindsOurs.get(k) ?? 0, kindsTheirs.get(k) ?? 0];
    if (a + b >= 0.05) report.push(`| ${k} | ${a.toFixed(1)} | ${b.toFixed(1)} | ${(a - b >= 0 ? '+' : '') + (a - b).toFixed(1)} |`);
  }
  const top = (rows) => rows.slice(0, 25).map((r) => `| ${r.name} | ${r.kind} | ${r.calls.toFixed(0)} | ${r.ms.toFixed(1)} |`);
  report.push('', '<details><summary>ops by time, synthmix (TensorFlow op types)</summary>', '', '| op | kind | calls/step | ms/step |', '|---|---|---:|---:|', ...top(mine), '', '</details>', '');
  report.push('<details><summary>ops by time, PyTorch (aten, self time)</summary>', '', '| op | kind | calls/step | ms/step |', '|---|---|---:|---:|', ...top(theirs), '', '</details>', '');
  saved[model] = { oursWallMs, theirsWallMs, synthmix: mine, pytorch: theirs };
}
torch.stop();
fs.mkdirSync(path.join(here, 'results'), { recursive: true });
fs.writeFileSync(path.join(here, 'results', `profile-${models.join('-')}.json`), JSON.stringify({ date: new Date().toISOString(), cpu: facts, variant, steps, models: saved }, null, 1));
process.stdout.write(`${report.join('\n')}\n`);
// The PyTorch child and TensorFlow's thread pools would keep the process alive.
process.exit(0);
