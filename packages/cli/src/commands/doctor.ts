import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { cacheLayout, decideBackend, loadBackend, normaliseRayAddress, probeMachine, RayJobsClient, resolveExecution, UserError, type BackendRequest } from '@synthmix/core';
import { choiceInWords, cpuFacts, TRIAL_FROM_MS, loadGraphBinding, machineDescription, machineKey, probeCompiledPath, readChoices, sessionThreads, type StepChoice } from '@synthmix/compile';
import { findMlflow, MlflowClient, runningServer } from '@synthmix/tracking';
import { EXIT, type Command } from '../command.js';
import { findProject } from '../project.js';
import { resolveTrackingUri } from '../tracking.js';

/**
 * What `compile: auto` measured on this machine (its CPU facts, threads and libtensorflow), from
 * the project cache's choice file; `others`: choices kept for other machines sharing the cache.
 */
function compilePaths(cacheDir: string): { file: string; here: StepChoice[]; others: number } {
  const file = cacheLayout(cacheDir).compileChoices;
  const all = [...readChoices(file).values()];
  let key: string | undefined;
  try {
    key = machineKey(cpuFacts(), sessionThreads(), loadGraphBinding().version());
  } catch {
    key = undefined; // no graph addon: nothing is compiled here
  }
  const here = all.filter((c) => c.machineKey === key).sort((a, b) => `${a.owner} ${a.step} ${a.shape}`.localeCompare(`${b.owner} ${b.step} ${b.shape}`));
  return { file, here, others: all.length - here.length };
}

function provenance(pkg: string): Record<string, unknown> | undefined {
  try {
    const dir = path.dirname(createRequire(import.meta.url).resolve(`${pkg}/package.json`));
    const file = path.join(dir, 'deps', 'synthmix-provenance.json');
    return fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) : undefined;
  } catch {
    return undefined;
  }
}

type CompiledReport = { ok: boolean; tensorflow?: string; error?: string; xla?: { ok: boolean; error?: string } };

function compiledLine(c: CompiledReport | undefined): string {
  if (!c) return '— (no backend)';
  if (!c.ok) return `NOT available: ${c.error}; training steps run eagerly (op by op)`;
  return `works (graph addon on libtensorflow ${c.tensorflow}; compiled = eager on a probe step); XLA ${c.xla?.ok ? 'works' : `not available: ${c.xla?.error}`}`;
}

function compilePathLines(c: ReturnType<typeof compilePaths>): string[] {
  const elsewhere = c.others ? `; ${c.others} more for other machines` : '';
  if (!c.here.length) return [`auto paths   none measured on this machine yet (a run with compile: auto times the paths of each step that takes ${TRIAL_FROM_MS} ms or more compiled, once; quicker steps run compiled unmeasured)${elsewhere}`];
  return [
    `auto paths   ${c.here.length} step${c.here.length === 1 ? '' : 's'} measured on this machine (${c.file})${elsewhere}:`,
    ...c.here.map((s) => `             ${s.owner} ${s.step} [${s.shape}]: ${choiceInWords(s)}, ${s.measuredAt.slice(0, 10)}`),
  ];
}

export const doctor: Command = {
  name: 'doctor',
  brief: 'Show backend, devices, MLflow, datasets',
  summary: 'Report the compute backend and why, TensorFlow, devices, CPU, Node, MLflow and datasets: paste it into bug reports.',
  args: [],
  options: {
    json: { type: 'boolean', description: 'Print JSON' },
    backend: { type: 'string', valueName: 'name', description: 'Check this backend request instead of the configured one' },
    executor: { type: 'string', valueName: 'name', description: 'Check this executor (inline, local, ray) instead of the configured one' },
    'ray-address': { type: 'string', valueName: 'url', description: 'Ray dashboard address to check (else project config, RAY_ADDRESS)' },
    'tracking-uri': { type: 'string', valueName: 'url', description: 'MLflow server to check (else MLFLOW_TRACKING_URI, project config)' },
  },
  async run({ options, io }) {
    const project = await findProject(io.cwd, io.env);
    const requested = ((options.backend as string | undefined) ?? project.config.backend ?? 'auto') as BackendRequest;
    const facts = probeMachine();
    const report: Record<string, unknown> = { requested };
    try {
      const decision = decideBackend(requested, facts);
      const loaded = await loadBackend(requested, facts);
      Object.assign(report, {
        backend: loaded.backendName,
        choice: decision.choice,
        reasons: decision.reasons,
        warning: decision.warning,
        tensorflow: loaded.tensorflowVersion ?? null,
        tfjs: loaded.tf.version.tfjs,
        libtensorflow: provenance(decision.choice === 'gpu' ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node') ?? null,
        threads: loaded.threads,
      });
      // The compiled path needs tfjs-node's libtensorflow (not the pure JavaScript backend).
      report.compiled = loaded.tensorflowVersion
        ? { ...probeCompiledPath(loaded.tf as never), xla: probeCompiledPath(loaded.tf as never, { xla: true }) }
        : { ok: false, error: 'needs the TensorFlow backend (tfjs-node); steps run op by op in JavaScript' };
    } catch (err) {
      if (!(err instanceof UserError)) throw err;
      Object.assign(report, { backend: null, error: err.message });
    }
    report.gpu = { devices: facts.cudaDevices, problem: facts.cudaProblem ?? null, tfjsNodeGpuBinding: facts.gpuPackage, cudaLibraries: ['libcudart.so.12', 'libcudnn.so.9'].map((lib) => ({ lib, found: fs.existsSync(`/usr/lib/x86_64-linux-gnu/${lib}`) || fs.existsSync(`/usr/local/cuda/lib64/${lib}`) })) };
    const cpu = cpuFacts();
    report.cpu = { ...cpu, description: machineDescription(cpu) };
    report.compilePaths = compilePaths(project.cacheDir);
    report.node = process.version;
    report.platform = `${os.platform()} ${os.release()} ${os.arch()}`;
    const resolved = resolveTrackingUri(project, io.env, undefined, options['tracking-uri'] as string | undefined);
    const uri = resolved?.uri;
    let mlflowPath: string | null = null;
    try {
      mlflowPath = findMlflow(project.root, io.env);
    } catch { /* reported below */ }
    const embedded = await runningServer(project.mlflowDir);
    const url = uri ?? embedded?.url;
    report.mlflow = { trackingUri: uri ?? null, source: resolved?.source ?? (embedded ? 'embedded' : null), order: 'flag, MLFLOW_TRACKING_URI, manifest, project config, embedded server', embeddedServer: embedded?.url ?? null, reachable: url ? await new MlflowClient({ trackingUri: url }).health() : false, executable: mlflowPath };
    const execution = resolveExecution({ manifest: {} as never }, project.config, io.env, { executor: options.executor as string | undefined, rayAddress: options['ray-address'] as string | undefined });
    const executorReport: Record<string, unknown> = { executor: execution.executor, workers: execution.workers, retries: execution.retries, address: execution.address ?? null };
    if (execution.executor === 'ray' || execution.address) {
      try {
        if (!execution.address) throw new UserError('no address: set --ray-address, RAY_ADDRESS or execution.address');
        const cluster = await new RayJobsClient(normaliseRayAddress(execution.address), 5_000).cluster();
        Object.assign(executorReport, { rayVersion: cluster.rayVersion, resources: cluster.resources, nodes: cluster.nodes.length });
      } catch (err) {
        executorReport.error = (err as Error).message;
      }
    }
    report.execution = executorReport;
    const candidates = [...(project.config.dataRoots ?? []), path.resolve(project.root, '../shared/datasets')];
    report.datasets = candidates.filter((d) => fs.existsSync(d)).map((d) => ({ path: d, folders: fs.readdirSync(d).filter((f) => fs.statSync(path.join(d, f)).isDirectory()) }));
    report.project = { root: project.root, config: project.config.filepath ?? null, cache: project.cacheDir };
    if (options.json) {
      io.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
      return report.backend ? EXIT.ok : EXIT.failed;
    }
    const lines = [
      `backend      ${report.backend ?? `unavailable: ${report.error}`}${report.choice ? ` (${report.choice}; requested ${requested})` : ''}`,
      ...((report.reasons as string[] | undefined) ?? []).map((r) => `             ${r}`),
      ...(report.warning ? [`warning      ${report.warning}`] : []),
      `tensorflow   ${report.tensorflow ?? 'none (pure JavaScript)'}; tfjs ${report.tfjs ?? '?'}${report.libtensorflow ? `; libtensorflow from ${(report.libtensorflow as { source: string }).source}` : ''}`,
      `threads      ${report.threads ? `intra-op ${(report.threads as { intraOp: number }).intraOp}, inter-op ${(report.threads as { interOp: number }).interOp}` : '—'}`,
      `compiled     ${compiledLine(report.compiled as CompiledReport | undefined)}`,
      ...compilePathLines(report.compilePaths as ReturnType<typeof compilePaths>),
      `gpu          ${facts.cudaDevices.length ? facts.cudaDevices.join('; ') : `none (${facts.cudaProblem})`}; tfjs-node-gpu binding ${facts.gpuPackage ? 'built' : 'not built'}`,
      `cpu          ${machineDescription(cpu)}; ${cpu.flags.join(' ')}`,
      `node         ${process.version} (${report.platform})`,
      `mlflow       ${url ? `${url} (from ${resolved?.source ?? 'the embedded server'}) ${(report.mlflow as { reachable: boolean }).reachable ? 'reachable' : 'NOT reachable'}` : 'no server configured or running; the embedded one starts with the first run'}; executable ${mlflowPath ?? 'not found (npm run setup installs it)'}`,
      `executor     ${execution.executor}${execution.executor !== 'inline' ? `, ${execution.workers} at once` : ''}, ${execution.retries} retr${execution.retries === 1 ? 'y' : 'ies'}${executorReport.rayVersion ? `; Ray ${executorReport.rayVersion as string} at ${execution.address} (${(['CPU', 'GPU', 'memory'] as const).flatMap((k) => { const v = (executorReport.resources as Record<string, number>)[k]; return v === undefined ? [] : [k === 'memory' ? `${(v / 2 ** 30).toFixed(1)} GiB` : `${v} ${k}`]; }).join(', ')}, ${executorReport.nodes as number} node(s))` : ''}${executorReport.error ? `; Ray: ${executorReport.error as string}` : ''}`,
      `datasets     ${(report.datasets as { path: string; folders: string[] }[]).map((d) => `${d.path} [${d.folders.join(', ')}]`).join('; ') || 'none found'}`,
      `project      ${project.root}${project.config.filepath ? ` (config ${project.config.filepath})` : ''}`,
    ];
    io.stdout.write(`${lines.join('\n')}\n`);
    return report.backend ? EXIT.ok : EXIT.failed;
  },
};
