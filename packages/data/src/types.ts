/** A batch of images with integer class labels (re-exported by @synthmix/core's contract). */
export interface ImageSet {
  /** Pixels, NHWC, row-major, float32 in [-1, 1]; length = count × height × width × channels. */
  images: Float32Array;
  /** Class index per image, into `classNames`. */
  labels: Int32Array;
  count: number;
  height: number;
  width: number;
  channels: number;
  /** Class names in label order (index 0 is label 0). */
  classNames: string[];
  /** Optional identifier per image (file path relative to the dataset, or `synthetic:<class>:<n>`). */
  ids?: string[];
}

/** Pixel value v (0…255) as the models see it: v / 127.5 − 1, in float32. */
const SIGNED_UNIT = Float32Array.from({ length: 256 }, (_, v) => v / 127.5 - 1);

/** Decoded bytes → [-1, 1], into `out` (a new array when absent). */
export function toSignedUnit(bytes: Uint8Array, out: Float32Array = new Float32Array(bytes.length)): Float32Array {
  for (let i = 0; i < bytes.length; i++) out[i] = SIGNED_UNIT[bytes[i]];
  return out;
}

const BYTES = Symbol('synthmix.imageBytes');

/**
 * An image set kept as the uint8 bytes it was decoded to, a quarter of float32: `images` is
 * made on first read and then kept, and {@link subset} takes its rows from the bytes. So a loaded
 * dataset that is only inspected, cached or split into subsets never holds a float32 copy of
 * itself (20,000 images at 64 px: 234 MiB of bytes, not 938 MiB more of float32).
 */
export function imageSetFromBytes(bytes: Uint8Array, fields: Omit<ImageSet, 'images'>): ImageSet {
  let images: Float32Array | undefined;
  const set = { ...fields } as ImageSet;
  Object.defineProperty(set, 'images', { enumerable: true, configurable: true, get: () => (images ??= toSignedUnit(bytes)) });
  Object.defineProperty(set, BYTES, { value: bytes });
  return set;
}

/** The uint8 bytes behind a set made by {@link imageSetFromBytes}, else undefined. */
export function imageBytes(set: ImageSet): Uint8Array | undefined {
  return (set as unknown as Record<symbol, Uint8Array | undefined>)[BYTES];
}

/** A set's fields other than its pixels, read without touching `images` (which may be made on read). */
function fieldsOf(set: ImageSet): Omit<ImageSet, 'images'> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(set)) if (key !== 'images') out[key] = (set as unknown as Record<string, unknown>)[key];
  return out as unknown as Omit<ImageSet, 'images'>;
}

/**
 * Images `first` … `first + count − 1` of a set as float32 into `out` from index `at`: from the
 * bytes when the set keeps them (reading `images` would make its whole float32 copy).
 */
function copyImages(set: ImageSet, first: number, count: number, out: Float32Array, at: number): void {
  const size = set.height * set.width * set.channels;
  const bytes = imageBytes(set);
  if (bytes) toSignedUnit(bytes.subarray(first * size, (first + count) * size), out.subarray(at, at + count * size));
  else out.set(set.images.subarray(first * size, (first + count) * size), at);
}

/**
 * The pixels of the images at `indices`, in that order, as float32 in [-1, 1] (NHWC rows), into
 * `out` when given. What a plugin reads a batch with: a set that keeps its bytes converts just
 * these rows, so training on a large real pool never holds the pool as float32.
 */
export function imageRows(set: ImageSet, indices: ArrayLike<number>, out?: Float32Array): Float32Array {
  const size = set.height * set.width * set.channels;
  const rows = out ?? new Float32Array(indices.length * size);
  if (rows.length < indices.length * size) throw new Error(`imageRows: room for ${Math.floor(rows.length / size)} images, ${indices.length} asked`);
  for (let i = 0; i < indices.length; i++) copyImages(set, indices[i], 1, rows, i * size);
  return rows;
}

/**
 * The images at `indices`, in that order. A set that keeps its bytes gives a subset that keeps
 * the bytes of its rows (float32 made on first read, as for the whole set); else float32.
 */
export function subset(set: ImageSet, indices: ArrayLike<number>): ImageSet {
  const size = set.height * set.width * set.channels;
  const labels = new Int32Array(indices.length);
  const ids: string[] | undefined = set.ids ? [] : undefined;
  for (let i = 0; i < indices.length; i++) {
    labels[i] = set.labels[indices[i]];
    ids?.push(set.ids![indices[i]]);
  }
  const fields = { ...fieldsOf(set), labels, count: indices.length, ids };
  const bytes = imageBytes(set);
  if (bytes) {
    const picked = new Uint8Array(indices.length * size);
    for (let i = 0; i < indices.length; i++) picked.set(bytes.subarray(indices[i] * size, (indices[i] + 1) * size), i * size);
    return imageSetFromBytes(picked, fields);
  }
  return { ...fields, images: imageRows(set, indices) };
}

/** Two sets of the same shape and classes, one after the other (keeping bytes when both keep them). */
export function concat(a: ImageSet, b: ImageSet): ImageSet {
  if (a.height !== b.height || a.width !== b.width || a.channels !== b.channels) {
    throw new Error(`cannot concatenate ${a.height}×${a.width}×${a.channels} and ${b.height}×${b.width}×${b.channels} images`);
  }
  const size = a.height * a.width * a.channels;
  const labels = new Int32Array(a.count + b.count);
  labels.set(a.labels);
  labels.set(b.labels, a.count);
  const ids = a.ids && b.ids ? [...a.ids, ...b.ids] : undefined;
  const fields = { ...fieldsOf(a), labels, count: a.count + b.count, ids };
  const [bytesA, bytesB] = [imageBytes(a), imageBytes(b)];
  if (bytesA && bytesB) {
    const bytes = new Uint8Array((a.count + b.count) * size);
    bytes.set(bytesA.subarray(0, a.count * size));
    bytes.set(bytesB.subarray(0, b.count * size), a.count * size);
    return imageSetFromBytes(bytes, fields);
  }
  const images = new Float32Array((a.count + b.count) * size);
  copyImages(a, 0, a.count, images, 0);
  copyImages(b, 0, b.count, images, a.count * size);
  return { ...fields, images };
}

/** Indices of each class's images, in order. */
export function indicesByClass(set: ImageSet): number[][] {
  const out = set.classNames.map(() => [] as number[]);
  for (let i = 0; i < set.count; i++) out[set.labels[i]].push(i);
  return out;
}

/** Checks that images are the expected shape and in [-1, 1] (e.g. a generator's output). */
export function checkImageSet(set: ImageSet, expect: { height: number; width: number; channels: number }, what: string): string[] {
  const problems: string[] = [];
  if (set.height !== expect.height || set.width !== expect.width || set.channels !== expect.channels) {
    problems.push(`${what} are ${set.height}×${set.width}×${set.channels}, expected ${expect.height}×${expect.width}×${expect.channels}`);
  }
  if (set.images.length !== set.count * set.height * set.width * set.channels) problems.push(`${what}: pixel buffer length does not match count × shape`);
  if (set.labels.length !== set.count) problems.push(`${what}: ${set.labels.length} labels for ${set.count} images`);
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < set.images.length; i++) {
    const v = set.images[i];
    if (!(v >= -1.0001 && v <= 1.0001)) {
      if (Number.isNaN(v)) { problems.push(`${what} contain NaN pixels`); break; }
    }
    if (v < min) min = v;
    if (v > max) max = v;
  }
  if (min < -1.0001 || max > 1.0001) problems.push(`${what} have pixel values in [${min.toFixed(3)}, ${max.toFixed(3)}], expected [-1, 1]`);
  return problems;
}

/** A problem with the data itself (a missing folder, a bad file in strict mode, too few images): the user's to fix. */
export class DatasetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DatasetError';
  }
}
