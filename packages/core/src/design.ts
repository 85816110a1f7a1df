/**
 * The experimental design of a sweep, in one place: where each cell sits on the design's factors
 * (training-set size, synthetic share, seed, generator epoch), which cell is its baseline, how
 * cells group for tables, plots and the answer, and how a grid point is labelled. Everything that
 * needs "the 100:0 cell of this seed" or "the x of this cell" asks here instead of testing
 * `ratio === 0` itself.
 */
import type { CellPlan } from './manifest.js';

/** A cell that trains on real images only: every other cell of its group is compared with it. */
export function isBaselineCell(cell: CellPlan): boolean {
  return cell.syntheticPerClass === 0;
}

/** Images per class in the cell's training and validation sets together. */
export function cellSizePerClass(cell: CellPlan): number {
  return cell.realPerClass + cell.syntheticPerClass;
}

/** The x of a cell on its curve: the synthetic share. */
export function designX(cell: CellPlan): number {
  return cell.ratio;
}

/** A grid point as people read it: `90:10` (real:synthetic). */
export function designLabel(x: number): string {
  return `${Math.round((1 - x) * 100)}:${Math.round(x * 100)}`;
}

/** The same as a share in words: `10 %`. */
export function shareInWords(x: number): string {
  return `${Math.round(x * 100)} %`;
}

/** Cells compared with each other: the same training-set size and generator state. */
export function groupKey(cell: CellPlan): string {
  return `${cellSizePerClass(cell)}|${cell.generatorEpoch ?? ''}`;
}

/** The no-synthetic cell of the same group and seed, if the sweep has one. */
export function baselineOf(cell: CellPlan, cells: readonly CellPlan[]): CellPlan | undefined {
  // The baseline of a snapshot cell is the group's real-only cell (it has no generator epoch).
  return cells.find((c) => c.seed === cell.seed && isBaselineCell(c) && c.generatorEpoch === undefined && cellSizePerClass(c) === cellSizePerClass(cell));
}

/** The cells with the smallest and the largest synthetic share of a seed (Grad-CAM compares those). */
export function extremeCells(cells: readonly CellPlan[], seed: number): CellPlan[] {
  const own = cells.filter((c) => c.seed === seed && c.generatorEpoch === undefined);
  if (!own.length) return [];
  const xs = own.map(designX);
  const lo = Math.min(...xs);
  const hi = Math.max(...xs);
  return own.filter((c) => designX(c) === lo || designX(c) === hi);
}
