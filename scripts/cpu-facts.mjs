#!/usr/bin/env node
/**
 * The CPU facts every test summary and benchmark figure carries: model, family/model, the SIMD
 * flags that decide oneDNN's kernels, and the ISA oneDNN says it dispatches to here (honouring
 * ONEDNN_MAX_CPU_ISA, which CI sets to AVX2 to test the kernels an AVX2-only host runs).
 * `node scripts/cpu-facts.mjs` prints one line; `--json` the object.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
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

export function cpuFacts(env = process.env) {
  const info = fs.existsSync('/proc/cpuinfo') ? fs.readFileSync('/proc/cpuinfo', 'utf8') : '';
  const field = (name) => new RegExp(`^${name}\\s*:\\s*(.*)$`, 'm').exec(info)?.[1]?.trim();
  const flags = (field('flags') ?? '').split(/\s+/).filter((f) => /^(avx|fma|amx|sse4)/.test(f)).sort();
  return {
    model: field('model name') ?? os.cpus()[0]?.model ?? 'unknown',
    family: field('cpu family'),
    cpuModel: field('model'),
    cores: os.cpus().length,
    flags,
    maxIsa: env.ONEDNN_MAX_CPU_ISA ?? 'unset',
    onednnIsa: onednnIsa(env),
  };
}

export function cpuLine(facts = cpuFacts()) {
  return `cpu: ${facts.model} (family ${facts.family ?? '?'} model ${facts.cpuModel ?? '?'}, ${facts.cores} cores); flags: ${facts.flags.join(' ')}; ONEDNN_MAX_CPU_ISA=${facts.maxIsa}; oneDNN ISA: ${facts.onednnIsa}`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const facts = cpuFacts();
  process.stdout.write(process.argv.includes('--json') ? `${JSON.stringify(facts, null, 2)}\n` : `${cpuLine(facts)}\n`);
}
