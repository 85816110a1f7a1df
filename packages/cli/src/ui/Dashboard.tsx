/** The live dashboard of `synthmix run` on a terminal. */
import React from 'react';
import { Box, Text } from 'ink';
import { bestRow, eta, type CellRow, type SweepView } from './state.js';
import { cell, duration, num, pct, progressBar, sparkline } from './format.js';
import { formatTable, resultsTable } from './table.js';
import { designLabel, designX, modeOf, type CellResult } from '@synthmix/core';

const STATUS_COLOR: Record<CellRow['status'], string> = { queued: 'gray', training: 'yellow', evaluating: 'cyan', done: 'green', cached: 'green', failed: 'red' };

export function Header({ view }: { view: SweepView }) {
  const elapsed = view.now - view.startedAt;
  return (
    <Box flexDirection="column">
      <Text>
        <Text bold>synthmix</Text> {view.name} · backend <Text color="cyan">{view.backend || '…'}</Text> {view.device ? `(${view.device})` : ''}
      </Text>
      <Text dimColor>
        elapsed {duration(elapsed)} · ETA {duration(eta(view))}{view.trackingUrl ? ` · MLflow ${view.trackingUrl}` : ''}
      </Text>
      {view.executor ? <Text dimColor>jobs on {view.executor}</Text> : null}
      {view.compilePaths ? <Text dimColor wrap="truncate-end">steps: {Object.entries(view.compilePaths).map(([step, path]) => `${step.replace(/^synthmix:/, '')} ${path}`).join(' · ')}</Text> : null}
      {view.measuring ? <Text color="yellow" wrap="truncate-end">{view.measuring}</Text> : null}
      {(view.qualityWarnings ?? []).map((w) => (
        <Text key={w} color="red" bold wrap="wrap">⚠ {w}</Text>
      ))}
    </Box>
  );
}

/** While the dataset loads: which phase, how far. */
export function LoadingPanel({ view }: { view: SweepView }) {
  const l = view.loading;
  if (!l) return null;
  return (
    <Box marginTop={1}>
      <Text>
        Dataset · {l.phase === 'reading' ? 'reading and hashing files' : 'decoding and resizing'} {l.done}/{l.total} {progressBar(l.done, l.total, 20)}
      </Text>
    </Box>
  );
}

export function GeneratorPanel({ view }: { view: SweepView }) {
  const g = view.generator;
  if (!g || g.done) return null;
  const series = Object.entries(g.series);
  return (
    <Box flexDirection="column" marginTop={1}>
      <Text>
        Generator seed {g.seed} · {g.label ?? ''} {g.cached ? '(cached)' : ''} {g.unit ?? 'step'} {g.step}/{g.total ?? '?'} {progressBar(g.step, g.total ?? 0, 20)}
      </Text>
      {series.map(([name, values]) => (
        <Text key={name} dimColor>
          {cell(name, 22)} {sparkline(values, 30)} {num(values[values.length - 1])}
        </Text>
      ))}
    </Box>
  );
}

/** How many table rows fit: the rest are summarised in one line, never wrapped. */
export function visibleRows(rows: CellRow[], maxRows: number): { shown: CellRow[]; hidden: Record<string, number> } {
  if (rows.length <= maxRows) return { shown: rows, hidden: {} };
  // Keep the active rows and their neighbours in view.
  const active = Math.max(0, rows.findIndex((r) => r.status === 'training' || r.status === 'evaluating' || r.status === 'queued'));
  const start = Math.max(0, Math.min(active - Math.floor(maxRows / 2), rows.length - maxRows));
  const shown = rows.slice(start, start + maxRows);
  const hidden: Record<string, number> = {};
  for (const r of [...rows.slice(0, start), ...rows.slice(start + maxRows)]) hidden[r.status] = (hidden[r.status] ?? 0) + 1;
  return { shown, hidden };
}

export function SweepTable({ view, maxRows = 14, width = 80 }: { view: SweepView; maxRows?: number; width?: number }) {
  const best = bestRow(view);
  const { shown, hidden } = visibleRows(view.rows, maxRows);
  const wide = width >= 100;
  // Wide terminals fit a generator-epoch ablation's longer ids (…-gen150) whole.
  const idWidth = wide ? Math.min(32, Math.max(24, ...view.rows.map((r) => r.cell.id.length + 1))) : 24;
  return (
    <Box flexDirection="column" marginTop={1}>
      <Text bold>
        {cell('  cell', idWidth + 2)}{cell('status', 11)}{cell('epoch', 7)}{cell('val acc', 8, 'right')}{cell('test acc', 9, 'right')}{cell('F1', 8, 'right')}{cell('AUC', 7, 'right')}
        {wide ? cell(view.rows.some((r) => r.cell.mode === 'augment') ? 'syn/real' : 'real:syn', 12, 'right') : ''}
      </Text>
      {shown.map((r) => (
        <Text key={r.cell.id} color={STATUS_COLOR[r.status]}>
          {r === best ? '★ ' : '  '}{cell(r.cell.id, idWidth)}{cell(r.status, 11)}
          {cell(r.epochs !== undefined ? `${r.epoch ?? 0}/${r.epochs}` : '', 7)}
          {cell(pct(r.valAccuracy), 8, 'right')}{cell(pct(r.metrics?.accuracy), 9, 'right')}{cell(pct(r.metrics?.f1), 8, 'right')}{cell(num(r.metrics?.auc), 7, 'right')}
          {wide ? cell(`${designLabel(designX(r.cell), modeOf(r.cell))}${r.cell.generatorEpoch !== undefined ? ` @${r.cell.generatorEpoch}` : ''}`, 12, 'right') : ''}
        </Text>
      ))}
      {Object.keys(hidden).length > 0 && (
        <Text dimColor>  … {Object.entries(hidden).map(([s, n]) => `${n} ${s}`).join(', ')} not shown</Text>
      )}
    </Box>
  );
}

export function Warnings({ view, max = 3 }: { view: SweepView; max?: number }) {
  if (!view.warnings.length) return null;
  return (
    <Box flexDirection="column" marginTop={1}>
      {view.warnings.slice(-max).map((w, i) => (
        <Text key={i} color="yellow" wrap="truncate-end">⚠ {w}</Text>
      ))}
    </Box>
  );
}

export function HelpLine({ view, showHelp }: { view: SweepView; showHelp: boolean }) {
  if (view.status === 'stopping') return <Text color="yellow">Stopping after the current epoch… (Ctrl-C again to quit at once)</Text>;
  if (showHelp) {
    return (
      <Box flexDirection="column" marginTop={1}>
        <Text>q       stop after the current epoch (the sweep stays resumable with --resume)</Text>
        <Text>Ctrl-C  once: same as q; twice: quit at once (MLflow runs end as KILLED)</Text>
        <Text>?       toggle this help</Text>
      </Box>
    );
  }
  return <Text dimColor>q stop · ? help</Text>;
}

export function Summary({ view, results, reportPath }: { view: SweepView; results: CellResult[]; reportPath?: string }) {
  const lines = formatTable(resultsTable(results));
  return (
    <Box flexDirection="column" marginTop={1}>
      <Text bold color={view.status === 'finished' ? 'green' : view.status === 'interrupted' ? 'yellow' : 'red'}>
        Sweep {view.status}{view.error ? `: ${view.error}` : ''}
      </Text>
      {lines.map((l, i) => (
        <Text key={i} bold={i === 0}>{l}</Text>
      ))}
      {view.answer?.map((sentence, i) => (
        <Text key={`answer-${i}`} color="cyan">{i === 0 ? 'Answer: ' : '        '}{sentence}</Text>
      ))}
      <Text dimColor>Output: {view.outputDir}</Text>
      {reportPath && <Text dimColor>Report: {reportPath}</Text>}
      {view.trackingUrl && <Text dimColor>MLflow: {view.trackingUrl}</Text>}
    </Box>
  );
}

export function Dashboard({ view, showHelp = false, width = 80, height = 24, results, reportPath }: { view: SweepView; showHelp?: boolean; width?: number; height?: number; results?: CellResult[]; reportPath?: string }) {
  const generatorLines = view.generator && !view.generator.done ? 3 + Object.keys(view.generator.series).length : 0;
  const headerLines = (view.compilePaths ? 1 : 0) + (view.measuring ? 1 : 0);
  const maxRows = Math.max(3, height - 10 - generatorLines - headerLines - (view.loading ? 2 : 0));
  return (
    <Box flexDirection="column" width={width}>
      <Header view={view} />
      <LoadingPanel view={view} />
      <GeneratorPanel view={view} />
      <SweepTable view={view} maxRows={maxRows} width={width} />
      <Warnings view={view} />
      {results ? <Summary view={view} results={results} reportPath={reportPath} /> : <HelpLine view={view} showHelp={showHelp} />}
    </Box>
  );
}
