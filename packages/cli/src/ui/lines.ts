/** Plain output for CI, pipes and --no-ui: one readable line per event, with a timestamp. */
import { cellsInWords, dataProgressStep, designLabel, designX, modeOf, type SweepEvent } from '@synthmix/core';
import { choiceInWords, STEP_PATH_WORDS } from '@synthmix/compile';
import { duration, num, pct } from './format.js';

/** A seed's generator (`generator seed 1`), or a size's own (`generator-seed1-real200`). */
const who = (e: { seed: number; generator?: string }) => e.generator ?? `generator seed ${e.seed}`;

function stamp(time: number): string {
  return new Date(time).toISOString().slice(11, 19);
}

/**
 * How far a dataset load is, at every tenth of each phase and at its end (undefined between):
 * a log's line; the dashboard shows every step.
 */
export function loadProgressText(p: { phase: 'reading' | 'decoding'; done: number; total: number }): string | undefined {
  if (p.done !== p.total && p.done % (10 * dataProgressStep(p.total)) !== 0) return undefined;
  return `${p.phase === 'reading' ? 'reading files' : 'decoding'} ${p.done}/${p.total}`;
}

/** The line for an event, or undefined for events too chatty for a log (per-metric). */
export function eventLine(e: SweepEvent): string | undefined {
  const t = stamp(e.time);
  switch (e.type) {
    case 'sweep:start':
      return `${t} sweep ${e.plan.name}: ${e.plan.cells.length} cells (${cellsInWords(e.plan)}), backend ${e.backend.choice} [${e.backend.backendName}${e.backend.tensorflowVersion ? ` ${e.backend.tensorflowVersion}` : ''}]${e.resumed.length ? `, ${e.resumed.length} already done` : ''}`;
    case 'data:progress': {
      const said = loadProgressText(e);
      return said && `${t} data ${said}`;
    }
    case 'data:loaded':
      return `${t} data ${Object.entries(e.counts).map(([c, n]) => `${c}=${n}`).join(' ')}, ${e.skipped} skipped, ${e.groups} groups, test ${e.testPerClass}/class${e.cached ? ' (cached)' : ''}`;
    case 'generator:start':
      return `${t} ${who(e)}: ${e.cached ? 'cached state' : 'training'}${e.realPerClass === undefined ? '' : ` on ${e.realPerClass} real images per class`} (${e.plugin}, ${e.stateKey.slice(0, 12)})`;
    case 'generator:progress': {
      // The quality measures after training: what is being measured, per class.
      if (e.progress.unit === 'class') return `${t} ${who(e)}: ${e.progress.label ?? 'measuring'} (${e.progress.step}/${e.progress.total ?? '?'})`;
      const m = Object.entries(e.progress.metrics ?? {}).map(([k, v]) => `${k}=${num(v)}`).join(' ');
      return `${t} ${who(e)}${e.progress.label ? ` ${e.progress.label}` : ''} ${e.progress.unit ?? 'step'} ${e.progress.step}/${e.progress.total ?? '?'} ${m}`;
    }
    case 'generator:done':
      return `${t} ${who(e)}: ready, ${e.poolPerClass} synthetic images per class (${duration(e.durationMs)})`;
    case 'cell:start':
      return `${t} cell ${e.index}/${e.total} ${e.cell.id} (${designLabel(designX(e.cell), modeOf(e.cell))}): training`;
    case 'cell:progress':
      return `${t} cell ${e.cellId} ${e.progress.unit ?? 'epoch'} ${e.progress.step}/${e.progress.total ?? '?'} loss=${num(e.progress.metrics?.loss)} val_acc=${pct(e.progress.metrics?.val_accuracy)}`;
    case 'cell:done':
      return `${t} cell ${e.result.cell.id}: ${e.cached ? 'done earlier' : 'done'} acc=${pct(e.result.metrics.accuracy)} f1=${pct(e.result.metrics.f1)} auc=${num(e.result.metrics.auc)}${e.cached ? '' : ` (${duration(e.result.durationMs)})`}`;
    case 'cell:failed':
      return `${t} cell ${e.cellId}: FAILED: ${e.error}`;
    case 'executor:ready':
      return e.executor === 'inline' ? undefined : `${t} jobs run on ${e.description}`;
    case 'quality:warning':
      return undefined; // shown as its warning line
    case 'job:retry':
      return `${t} job ${e.jobId}: attempt ${e.attempt - 1} failed (${e.error.split('\n')[0]}); retrying`;
    case 'generator:failed':
      return `${t} ${who(e)}: FAILED: ${e.error}`;
    case 'warning':
      return `${t} warning: ${e.message}`;
    case 'compile:measuring':
      return `${t} ${e.owner} ${e.step} [${e.shape}]: timing ${e.paths.map((p) => STEP_PATH_WORDS[p]).join(', ')} to take the fastest on this machine`;
    case 'compile:chosen':
      // A remembered choice is the one logged when it was measured; every cell recalls it.
      return e.choice.remembered ? undefined : `${t} ${e.choice.owner} ${e.choice.step} [${e.choice.shape}]: ${choiceInWords(e.choice)}; remembered for this machine`;
    case 'sweep:done':
      return `${t} sweep ${e.status}: ${e.results.length} cells${e.error ? `; ${e.error}` : ''}; output in ${e.outputDir}`;
    default:
      return undefined;
  }
}
