// What the MLflow server synthmix starts costs in memory, idle: MLflow's default (with its job
// runner) against the lean start synthmix uses (MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false, one
// worker). Resident memory of the whole process tree, after the server has settled.
// Usage: node bench/mlflow-server.mjs [settle seconds, default 20]
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startMlflowServer } from '../packages/tracking/dist/index.js';

const root = path.resolve(import.meta.dirname, '..');
const settle = Number(process.argv[2] ?? 20) * 1000;

/** Resident set of a process and all its descendants, in MiB. */
function treeRssMb(pid) {
  const table = execFileSync('ps', ['-e', '-o', 'pid=,ppid=,rss='], { encoding: 'utf8' }).trim().split('\n').map((l) => l.trim().split(/\s+/).map(Number));
  const children = new Map();
  for (const [p, pp] of table) children.set(pp, [...(children.get(pp) ?? []), p]);
  const rss = new Map(table.map(([p, , r]) => [p, r]));
  let total = 0;
  let count = 0;
  const stack = [pid];
  while (stack.length) {
    const p = stack.pop();
    total += rss.get(p) ?? 0;
    count++;
    stack.push(...(children.get(p) ?? []));
  }
  return { mb: total / 1024, processes: count };
}

const rows = [];
for (const [label, jobs] of [['MLflow default (job runner on)', 'true'], ['synthmix lean start (job runner off)', 'false']]) {
  const store = fs.mkdtempSync(path.join(os.tmpdir(), 'synthmix-bench-mlflow-'));
  const server = await startMlflowServer({ projectRoot: root, storeDir: store, env: { MLFLOW_SERVER_ENABLE_JOB_EXECUTION: jobs } });
  await new Promise((r) => setTimeout(r, settle));
  const { mb, processes } = treeRssMb(server.pid);
  rows.push({ label, mb, processes });
  console.log(`${label}: ${mb.toFixed(0)} MiB resident in ${processes} processes`);
  await server.stop();
  fs.rmSync(store, { recursive: true, force: true });
}
const line = `| ${new Date().toISOString().slice(0, 10)} | ${os.cpus()[0].model}, ${os.availableParallelism()} cores | ${rows.map((r) => `${r.mb.toFixed(0)} MiB (${r.processes} proc.)`).join(' | ')} |`;
console.log(line);
