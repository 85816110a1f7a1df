import path from 'node:path';
import React, { useEffect, useState } from 'react';
import { render, useApp, useInput } from 'ink';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { isComparison, loadBackend, loadComparison, resolveCompile, resolveExecution, runSweep, sweepLayout, type CellResult, type ResolvedPlan, type SweepEvent, type SweepSummary, generatorsOfPlan } from '@synthmix/core';
import { describeTask } from '@synthmix/metrics';
import { EXIT, type Command, type CommandInput, type IO } from '../command.js';
import { findProject, loadPlan, pluginSchemaFor, type Project } from '../project.js';
import { refusedSummary, setupTracking } from '../tracking.js';
import { Dashboard } from '../ui/Dashboard.js';
import { eventLine } from '../ui/lines.js';
import { initialView, reduce, type SweepView } from '../ui/state.js';
import { formatTable, resultsTable } from '../ui/table.js';
import { writeComparison, writeReport } from '../report.js';

type Listener = (e: SweepEvent) => void;

/** How executors start `synthmix worker`: this Node and this CLI, by absolute paths. */
export function workerCommand(): string[] {
  return [process.execPath, fileURLToPath(new URL('../../bin/synthmix.js', import.meta.url)), 'worker'];
}

/** Carries events from the runner to the Ink tree. */
class EventHub {
  private listeners = new Set<Listener>();
  readonly history: SweepEvent[] = [];
  emit(e: SweepEvent) {
    this.history.push(e);
    for (const l of this.listeners) l(e);
  }
  subscribe(l: Listener) {
    this.listeners.add(l);
    return () => void this.listeners.delete(l);
  }
}

interface AppProps {
  hub: EventHub;
  trackingUrl?: string;
  onStop: () => void;
  onQuit: () => void;
  width: number;
  height: number;
  final: { results?: CellResult[]; reportPath?: string };
}

function RunApp({ hub, trackingUrl, onStop, onQuit, width, height, final }: AppProps) {
  const { exit } = useApp();
  const [view, setView] = useState<SweepView>(() => hub.history.reduce(reduce, { ...initialView(), trackingUrl }));
  const [showHelp, setShowHelp] = useState(false);
  useEffect(() => hub.subscribe((e) => setView((v) => reduce(v, e))), [hub]);
  useEffect(() => {
    const timer = setInterval(() => setView((v) => ({ ...v, now: Date.now() })), 1000);
    return () => clearInterval(timer);
  }, []);
  useEffect(() => {
    if (final.results) exit();
  }, [final.results, exit]);
  useInput((input, key) => {
    if (input === '?') setShowHelp((s) => !s);
    if (input === 'q' || (key.ctrl && input === 'c')) {
      if (view.status === 'stopping' && key.ctrl) onQuit();
      else if (view.status === 'running') {
        setView((v) => ({ ...v, status: 'stopping' }));
        onStop();
      }
    }
  });
  return <Dashboard view={view} showHelp={showHelp} width={width} height={height} results={final.results} reportPath={final.reportPath} />;
}

export const run: Command = {
  name: 'run',
  brief: 'Run a ratio sweep and report it',
  summary: 'Run a ratio sweep: train the generator, then one classifier per ratio × seed, and evaluate each on the real test set.',
  args: [{ name: 'manifest', description: 'Experiment manifest (experiments/*.yaml)', required: true }],
  options: {
    set: { type: 'string', multiple: true, valueName: 'key=value', description: 'Override a manifest value, e.g. generator.options.epochs=5' },
    resume: { type: 'boolean', description: 'Skip cells already finished in the output folder (the default)' },
    fresh: { type: 'boolean', description: 'Rerun every cell, ignoring finished ones' },
    backend: { type: 'string', valueName: 'name', description: 'auto, gpu, tensorflow or cpu (overrides the manifest)' },
    'no-ui': { type: 'boolean', description: 'Plain log lines instead of the live dashboard' },
    json: { type: 'boolean', description: 'Stream the typed events as JSON Lines' },
    'no-tracking': { type: 'boolean', description: 'Do not log to MLflow' },
    'tracking-uri': { type: 'string', valueName: 'url', description: 'MLflow server (else MLFLOW_TRACKING_URI, manifest, config)' },
    executor: { type: 'string', valueName: 'name', description: 'Where jobs run: inline, local or ray (overrides the manifest)' },
    workers: { type: 'string', valueName: 'n', description: 'Jobs at once for the local and ray executors' },
    'ray-address': { type: 'string', valueName: 'url', description: 'Ray dashboard address for the ray executor (else manifest, RAY_ADDRESS)' },
    compile: { type: 'string', valueName: 'mode', description: 'Training steps as TensorFlow graphs: auto, on or off (overrides the manifest)' },
    xla: { type: 'boolean', description: 'XLA in every compiled step (default: auto measures it)' },
    wait: { type: 'boolean', description: 'If another run holds the output folder, wait for it instead of refusing' },
  },
  details: [
    'Exit codes: 0 finished, 1 a cell or the sweep failed, 2 usage or manifest error,',
    '3 finished but MLflow refused or did not receive calls (kept for synthmix sync), 130 interrupted.',
    'Jobs (a generator per seed, a classifier per cell) run in this process by default; --executor local',
    'runs them in worker processes, --executor ray as Ray jobs on a cluster (its folders must be shared).',
  ],
  async run({ args, options, io }) {
    const project = await findProject(io.cwd, io.env);
    const overrides = [...((options.set as string[] | undefined) ?? []), ...(options.backend ? [`backend=${options.backend}`] : [])];
    const file = path.resolve(io.cwd, args[0]);
    const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
    if (text && isComparison(text)) {
      const comparison = await loadComparison(file, { overrides, config: project.config, projectRoot: project.root, cwd: io.cwd, pluginSchema: pluginSchemaFor(project) });
      const outcomes: { label: string; plan: ResolvedPlan; summary: SweepSummary }[] = [];
      for (const { label, plan } of comparison.sweeps) {
        if (!options.json) io.stdout.write(`\n== ${comparison.name}: ${label} (${plan.name})\n`);
        const { summary } = await runPlan(plan, project, io, options);
        outcomes.push({ label, plan, summary });
        if (summary.status === 'interrupted') return EXIT.interrupted;
      }
      const html = await writeComparison(comparison.outputDir, comparison.name, outcomes.map((o) => ({ label: o.label, plan: o.plan, results: o.summary.results, outputDir: o.plan.outputDir })));
      if (!options.json) io.stdout.write(`\nComparison: ${html}\n`);
      return outcomes.every((o) => o.summary.status === 'finished') ? EXIT.ok : EXIT.failed;
    }
    const plan = await loadPlan(args[0], project, overrides, io.cwd);
    const { summary, refused } = await runPlan(plan, project, io, options);
    if (summary.error && summary.status === 'failed' && !summary.failed.length) io.stderr.write(`synthmix run: ${summary.error}\n`);
    if (summary.status === 'finished' && refused) return EXIT.tracking;
    return summary.status === 'finished' ? EXIT.ok : summary.status === 'interrupted' ? EXIT.interrupted : EXIT.failed;
  },
};

/** One sweep: dashboard or log lines, tracking, report. */
async function runPlan(plan: ResolvedPlan, project: Project, io: IO, options: CommandInput['options']): Promise<{ summary: SweepSummary; reportPath: string; refused: number }> {
  plan = {
    ...plan,
    execution: resolveExecution(plan, project.config, io.env, { executor: options.executor as string | undefined, workers: options.workers as string | undefined, rayAddress: options['ray-address'] as string | undefined }),
    compile: resolveCompile(plan.manifest, project.config, { compile: options.compile as string | undefined, xla: options.xla as boolean | undefined }),
  };
  const controller = new AbortController();
  const hub = new EventHub();
  const interactive = !options.json && !options['no-ui'] && io.stdout.isTTY === true && io.env.CI !== 'true';
  // Tracker notices (server lost, back) show in the dashboard's warnings, or as log lines.
  const notice = (message: string) => (interactive ? hub.emit({ type: 'warning', time: Date.now(), scope: { kind: 'sweep' }, message }) : io.stderr.write(`${message}\n`));
  const tracking = options['no-tracking'] ? { notes: [] as string[], tracker: undefined, url: undefined } : await setupTracking(plan, project, io, notice, options['tracking-uri'] as string | undefined);
  const final: AppProps['final'] = {};
  let interrupts = 0;
  const onStop = () => controller.abort();
  const onQuit = () => {
    // Second Ctrl-C: quit now; the spool keeps what MLflow has not received.
    io.stderr.write('\nInterrupted.\n');
    process.exit(EXIT.interrupted);
  };
  const sigint = () => (++interrupts === 1 ? onStop() : onQuit());
  process.on('SIGINT', sigint);
  for (const note of tracking.notes) io.stderr.write(`${note}\n`);

  // Load TensorFlow before the dashboard draws: libtensorflow logs to stderr while it starts.
  const backend = await loadBackend(plan.backend);
  const width = Math.max(60, io.stdout.columns ?? 80);
  const height = io.stdout.rows ?? 24;
  let ink: ReturnType<typeof render> | undefined;
  if (interactive) {
    // libtensorflow logs a few absl INFO lines straight to file descriptor 2 while it loads (no
    // variable silences them in TF 2.21): the dashboard starts on a clean screen instead.
    io.stdout.write('\x1b[H\x1b[2J');
    ink = render(<RunApp hub={hub} trackingUrl={tracking.url} onStop={onStop} onQuit={onQuit} width={width} height={height} final={final} />, { exitOnCtrlC: false, stdout: io.stdout as NodeJS.WriteStream, patchConsole: false });
  }
  const write = (e: SweepEvent) => {
    if (options.json) io.stdout.write(`${JSON.stringify(e)}\n`);
    else if (!interactive) {
      const line = eventLine(e);
      if (line && !(e.type === 'cell:progress' && e.progress.total !== undefined && e.progress.step < e.progress.total && e.progress.step % 5 !== 0)) io.stdout.write(`${line}\n`);
    }
  };
  let summary: SweepSummary;
  try {
    summary = await runSweep(plan, {
      cacheDir: project.cacheDir,
      backend,
      signal: controller.signal,
      resume: !options.fresh,
      pluginAliases: project.config.plugins,
      workerCommand: workerCommand(),
      workerEnv: io.env,
      waitForLock: options.wait === true,
      onLockNotice: (message) => io.stderr.write(`${message}\n`),
      onEvent: (e) => {
        hub.emit(e);
        write(e);
        tracking.tracker?.handle(e);
      },
    });
  } finally {
    process.off('SIGINT', sigint);
  }
  const reportPath = await writeReport(plan.outputDir, plan, summary.results);
  const layout = sweepLayout(plan.outputDir);
  if (tracking.tracker) {
    const tracker = tracking.tracker;
    tracker.logArtifactAfter({ kind: 'sweep' }, path.dirname(reportPath), 'report');
    for (const r of summary.results) {
      for (const plot of ['roc.png', 'confusion.png'] as const) tracker.logArtifactAfter({ kind: 'cell', cellId: r.cell.id }, layout.cellPlot(r.cell.id, plot));
    }
    for (const g of generatorsOfPlan(plan)) {
      const own = g.realPerClass === undefined ? {} : { generator: g.id };
      tracker.logArtifactAfter({ kind: 'generator', seed: g.seed, ...own }, layout.generatorLossPlot(g.seed, own.generator));
    }
  }
  if (ink) {
    ink.rerender(<RunApp hub={hub} trackingUrl={tracking.url} onStop={onStop} onQuit={onQuit} width={width} height={height} final={{ results: summary.results, reportPath }} />);
    await ink.waitUntilExit();
  } else if (!options.json) {
    const task = summary.results[0]?.task;
    const answer = summary.answer ? `\nAnswer:\n${summary.answer.sizes.map((s) => `  ${s.sentence}`).join('\n')}\n` : '';
    io.stdout.write(`\n${formatTable(resultsTable(summary.results)).join('\n')}\n${task ? `Metrics: ${describeTask(task)}.\n` : ''}${answer}\nReport: ${reportPath}\n`);
  }
  if (tracking.tracker) {
    const left = await tracking.tracker.flush();
    // Calls that never reached the server end the run with exit 3, as refused ones do: the sweep
    // is done, its record in MLflow is not.
    if (left && tracking.url) io.stderr.write(`${left} MLflow call(s) did not reach ${tracking.url ?? 'the server'}; they are kept in ${plan.outputDir}/mlflow; replay them with: synthmix sync ${plan.outputDir}\n`);
    else if (tracking.url && !options.json && !interactive) io.stderr.write(`MLflow: ${tracking.url}\n`);
    if (tracking.tracker.refused.length) io.stderr.write(`${refusedSummary(tracking.tracker.refused, plan.outputDir)}\n`);
    // Without a server (MLflow not installed) the spool is the record, as the run said at its start.
    if ((left && tracking.url) || tracking.tracker.refused.length) return { summary, reportPath, refused: tracking.tracker.refused.length + left };
  }
  return { summary, reportPath, refused: 0 };
}

export type { IO };
