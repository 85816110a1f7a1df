/**
 * The CPU facts that decide which kernels run here: model, family/model, the SIMD flags oneDNN
 * dispatches on, cores, and ONEDNN_MAX_CPU_ISA (which caps them). What `compile: auto` measured
 * is remembered under these facts; benchmark figures and test summaries carry them
 * (scripts/cpu-facts.mjs adds oneDNN's own word on the ISA).
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';

export interface CpuFacts {
  model: string;
  family?: string;
  cpuModel?: string;
  cores: number;
  /** avx*, fma*, amx*, sse4* flags, sorted. */
  flags: string[];
  /** ONEDNN_MAX_CPU_ISA, or `unset`. */
  maxIsa: string;
}

export function cpuFacts(env: NodeJS.ProcessEnv = process.env, cpuinfo = readCpuinfo()): CpuFacts {
  const field = (name: string) => new RegExp(`^${name}\\s*:\\s*(.*)$`, 'm').exec(cpuinfo)?.[1]?.trim();
  const flags = (field('flags') ?? '').split(/\s+/).filter((f) => /^(avx|fma|amx|sse4)/.test(f)).sort();
  return {
    model: field('model name') ?? os.cpus()[0]?.model ?? 'unknown',
    family: field('cpu family'),
    cpuModel: field('model'),
    cores: os.cpus().length,
    flags,
    maxIsa: env.ONEDNN_MAX_CPU_ISA ?? 'unset',
  };
}

function readCpuinfo(): string {
  try {
    return fs.readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    return '';
  }
}

/** One line a person reads: `AMD EPYC 7B13 (family 25 model 1), 2 cores, AVX2 (capped)`. */
export function machineDescription(f: CpuFacts): string {
  const simd = f.flags.some((x) => x.startsWith('avx512')) ? 'AVX-512' : f.flags.includes('avx2') ? 'AVX2' : 'no AVX2';
  return `${f.model} (family ${f.family ?? '?'} model ${f.cpuModel ?? '?'}), ${f.cores} cores, ${simd}${f.maxIsa === 'unset' ? '' : `, ONEDNN_MAX_CPU_ISA=${f.maxIsa}`}`;
}

/** The threads a compiled step's session uses unless told: those of the eager path (0: TensorFlow's default). */
export function sessionThreads(env: NodeJS.ProcessEnv = process.env): { intraOp: number; interOp: number } {
  return { intraOp: Number(env.TF_NUM_INTRAOP_THREADS) || 0, interOp: Number(env.TF_NUM_INTEROP_THREADS) || 0 };
}

/** A short key for these facts and the thread settings a step runs with (same facts, same kernels). */
export function machineKey(f: CpuFacts, threads: { intraOp: number; interOp: number }, tensorflow: string): string {
  return createHash('sha256').update(JSON.stringify({ ...f, threads, tensorflow })).digest('hex').slice(0, 16);
}
