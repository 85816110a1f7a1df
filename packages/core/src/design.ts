/**
 * The experimental design of a sweep, in one place: where each cell sits on the design's factors
 * (training-set size, synthetic share, seed, generator epoch), which cell is its baseline, how
 * cells group for tables, plots and the answer, and how a grid point is labelled. Everything that
 * needs "the 100:0 cell of this seed" or "the x of this cell" asks here instead of testing
 * `ratio === 0` itself.
 */
import type { CellPlan } from './manifest.js';

/**
 * `replace`: a fixed training-set size, real images replaced by synthetic ones (the paper's
 * design). `augment`: every real image kept, synthetic ones added on top of the training split.
 */
export type DesignMode = 'replace' | 'augment';

/** Which real images a generator learns from: the whole real pool, or only those of its size's cells. */
export type GeneratorData = 'all' | 'size';

/** The factors of a sweep, resolved from the manifest. */
export interface Design {
  mode: DesignMode;
  /** Training-set sizes (replace: images per cell; augment: real images per cell), ascending. */
  sizes: number[];
  /** Replace: synthetic fractions. */
  ratios: number[];
  /** Augment: synthetic images per real training image. */
  multiples: number[];
  seeds: number[];
  /** Snapshot epochs of a generator-epoch ablation. */
  checkpoints: number[];
  classes: number;
  validationFraction: number;
  generatorData: GeneratorData;
  /**
   * The training budget of a size's own generator: `steps` (default) gives every size the
   * optimizer steps of the largest size's generator, by scaling the generator's `epochs` option
   * with the size (a 100-image generator trains 4× the epochs of a 400-image one); `epochs` keeps
   * the manifest's epochs at every size (fewer steps for smaller sizes).
   */
  generatorBudget: 'steps' | 'epochs';
  /** The generator plugin's `epochs` option, when it has one (what `steps` scales). */
  generatorEpochs?: number;
}

/** One generator to train: per seed, and per size when it may only see that size's real images. */
export interface GeneratorPlan {
  /** Its job id: `generator-seed1`, or `generator-seed1-real200` for a size's own. */
  id: string;
  seed: number;
  /** Real images per class it trains on: the size's (nested) subset; absent: the whole real pool. */
  realPerClass?: number;
  /** Synthetic images per class it samples: enough for its largest cell. */
  poolPerClass: number;
  /** Its options that differ from the manifest's (the `epochs` of an equal-steps budget). */
  options?: Record<string, unknown>;
}

/** The default of `generatorData`: today's design keeps one generator per seed on the whole pool. */
export function defaultGeneratorData(mode: DesignMode, sizes: number[]): GeneratorData {
  return mode === 'augment' || sizes.length > 1 ? 'size' : 'all';
}

/** A multiple as it appears in ids and labels: `0.5`, `2`. */
const multipleText = (m: number) => String(Math.round(m * 1e6) / 1e6);

/**
 * The cells of a design (seed × size × ratio or multiple, then the snapshot epochs), and the
 * generators they need. Ids stay readable and unique: `real800-synth200-seed1` (replace, the
 * counts of the cell), `real200-x2-seed1` (augment: 200 real images, 2 synthetic per real one),
 * `…-gen150` for a snapshot's cell.
 */
export function planDesign(d: Design, poolOverride?: number): { cells: CellPlan[]; generators: GeneratorPlan[] } {
  const cells: CellPlan[] = [];
  const k = d.classes;
  const sized = d.generatorData === 'size';
  for (const seed of d.seeds) {
    for (const size of d.sizes) {
      const perClass = size / k;
      const valPerClass = Math.round(perClass * d.validationFraction);
      const generator = sized ? `generator-seed${seed}-real${size}` : `generator-seed${seed}`;
      const own: CellPlan[] = [];
      if (d.mode === 'replace') {
        for (const ratio of d.ratios) {
          const syntheticPerClass = Math.round(perClass * ratio);
          const realPerClass = perClass - syntheticPerClass;
          const id = `real${realPerClass * k}-synth${syntheticPerClass * k}-seed${seed}`;
          own.push({ id, ratio, seed, realPerClass, syntheticPerClass, trainPerClass: perClass - valPerClass, valPerClass, trainingSetSize: size, ...(sized ? { generator } : {}) });
        }
      } else {
        const trainReal = perClass - valPerClass;
        for (const multiple of d.multiples) {
          const syntheticPerClass = Math.round(trainReal * multiple);
          const ratio = syntheticPerClass / (trainReal + syntheticPerClass);
          own.push({ id: `real${size}-x${multipleText(multiple)}-seed${seed}`, ratio, seed, realPerClass: perClass, syntheticPerClass, trainPerClass: trainReal + syntheticPerClass, valPerClass, trainingSetSize: size, mode: 'augment', syntheticPerReal: multiple, generator });
        }
      }
      cells.push(...own);
      // GAN-epoch ablation: every cell with synthetic images again, from each snapshot.
      for (const epoch of d.checkpoints) {
        for (const cell of own.filter((c) => c.syntheticPerClass > 0)) cells.push({ ...cell, id: `${cell.id}-gen${epoch}`, generatorEpoch: epoch });
      }
    }
  }
  const generators: GeneratorPlan[] = [];
  for (const seed of d.seeds) {
    for (const size of sized ? d.sizes : [undefined]) {
      const id = size === undefined ? `generator-seed${seed}` : `generator-seed${seed}-real${size}`;
      const needed = cells.filter((c) => c.seed === seed && (c.generator ?? `generator-seed${seed}`) === id);
      const poolPerClass = size === undefined && poolOverride ? poolOverride : Math.max(1, ...needed.map((c) => c.syntheticPerClass));
      const options = size !== undefined && d.generatorBudget === 'steps' && d.generatorEpochs !== undefined ? { epochs: equalStepsEpochs(d, size) } : undefined;
      generators.push({ id, seed, ...(size === undefined ? {} : { realPerClass: realImagesOfGenerator(d, size) }), poolPerClass, ...(options && options.epochs !== d.generatorEpochs ? { options } : {}) });
    }
  }
  return { cells, generators };
}

/**
 * Real images per class a size's generator learns from: the real images its cells may train on
 * (augment: the training split only, so early stopping still selects on images it never saw;
 * replace: the size's real subset, which the cells split into training and validation).
 */
function realImagesOfGenerator(d: Design, size: number): number {
  const perClass = size / d.classes;
  return d.mode === 'augment' ? perClass - Math.round(perClass * d.validationFraction) : perClass;
}

/** Epochs that give a size's generator the optimizer steps of the largest size's (steps ∝ images × epochs). */
function equalStepsEpochs(d: Design, size: number): number {
  const largest = Math.max(...d.sizes);
  return Math.max(1, Math.round(d.generatorEpochs! * (realImagesOfGenerator(d, largest) / realImagesOfGenerator(d, size))));
}

/** The generator job that makes a cell's synthetic images. */
export function generatorOf(cell: CellPlan): string {
  return cell.generator ?? `generator-seed${cell.seed}`;
}

/** A cell that trains on real images only: every other cell of its group is compared with it. */
export function isBaselineCell(cell: CellPlan): boolean {
  return cell.syntheticPerClass === 0;
}

/** Images per class in the cell's training and validation sets together. */
export function cellSizePerClass(cell: CellPlan): number {
  return cell.realPerClass + cell.syntheticPerClass;
}

/** The design a cell belongs to. */
export function modeOf(cell: CellPlan): DesignMode {
  return cell.mode ?? 'replace';
}

/** The x of a cell on its curve: the synthetic share (replace) or synthetic images per real one (augment). */
export function designX(cell: CellPlan): number {
  return modeOf(cell) === 'augment' ? cell.syntheticPerReal ?? 0 : cell.ratio;
}

/** A grid point as people read it: `90:10` (real:synthetic) or `2×` (synthetic per real). */
export function designLabel(x: number, mode: DesignMode = 'replace'): string {
  return mode === 'augment' ? `${multipleText(x)}×` : `${Math.round((1 - x) * 100)}:${Math.round(x * 100)}`;
}

/** The same in words: `10 %` of the real images replaced, or `2 synthetic images per real one` added. */
export function xInWords(x: number, mode: DesignMode = 'replace'): string {
  return mode === 'augment' ? `${multipleText(x)} synthetic image${x === 1 ? '' : 's'} per real one` : `${Math.round(x * 100)} %`;
}

/** The size factor of a cell: images per cell (replace) or real images per cell (augment), per class. */
export function sizePerClass(cell: CellPlan): number {
  return modeOf(cell) === 'augment' ? cell.realPerClass : cellSizePerClass(cell);
}

/** Cells compared with each other: the same design, training-set size and generator state. */
export function groupKey(cell: CellPlan): string {
  return `${modeOf(cell)}|${sizePerClass(cell)}|${cell.generatorEpoch ?? ''}`;
}

/** The no-synthetic cell of the same size and seed, if the sweep has one. */
export function baselineOf(cell: CellPlan, cells: readonly CellPlan[]): CellPlan | undefined {
  // The baseline of a snapshot cell is the group's real-only cell (it has no generator epoch).
  return cells.find((c) => c.seed === cell.seed && isBaselineCell(c) && c.generatorEpoch === undefined && modeOf(c) === modeOf(cell) && sizePerClass(c) === sizePerClass(cell));
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
