#!/usr/bin/env node
/**
 * The CPU facts every test summary and benchmark figure carries: model, family/model, the SIMD
 * flags that decide oneDNN's kernels, and the ISA oneDNN says it dispatches to here (honouring
 * ONEDNN_MAX_CPU_ISA, which CI sets to AVX2 to test the kernels an AVX2-only host runs).
 * `node scripts/cpu-facts.mjs` prints one line; `--json` the object.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** oneDNN's own word on the ISA, from a tiny convolution run with ONEDNN_VERBOSE=1 in a child process. */
export function onednnIsa(env = process.env) {
  const probe = "const tf=require('@tensorflow/tfjs-node');tf.conv2d(tf.ones([1,8,8,3]),tf.ones([3,3,3,4]),1,'same').dataSync();";
  try {
    const out = execFileSync(process.execPath, ['-e', probe], { cwd: path.join(root, 'packages/core'), env: { ...env, ONEDNN_VERBOSE: '1', TF_CPP_MIN_LOG_LEVEL: '2' }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
    return /onednn_verbose,[^\n]*info,cpu,isa:([^\n]*)/.exec(out)?.[1]?.trim() ?? 'not reported';
  } catch (err) {
    return `unknown (${String(err.message).split('\n')[0]})`;
  }
}

/** The CPU facts of packages/compile's machine.ts (their one owner; built by setup), with oneDNN's ISA. */
export async function cpuFactsWithIsa(env = process.env) {
  const { cpuFacts: facts } = await import(path.join(root, 'packages/compile/dist/machine.js'));
  return { ...facts(env), onednnIsa: onednnIsa(env) };
}

export function cpuLine(facts) {
  return `cpu: ${facts.model} (family ${facts.family ?? '?'} model ${facts.cpuModel ?? '?'}, ${facts.cores} cores); flags: ${facts.flags.join(' ')}; ONEDNN_MAX_CPU_ISA=${facts.maxIsa}; oneDNN ISA: ${facts.onednnIsa}`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const facts = await cpuFactsWithIsa();
  process.stdout.write(process.argv.includes('--json') ? `${JSON.stringify(facts, null, 2)}\n` : `${cpuLine(facts)}\n`);
}
