/**
 * Loading a dataset: list → decode by content → preprocess → hash → group, cached on disk by
 * the files' content hashes and the preprocessing options.
 */
import { DamagedFileError, isDamagedFileError, readJsonFile, readSealed, writeJsonAtomic, writeSealed, type FileSeal } from './durable.js';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { decodeImage, type PreprocessOptions } from './decode.js';
import { groupNearDuplicates, groupMembers } from './groups.js';
import { phantomDataset } from './phantom.js';
import { DatasetError, imageSetFromBytes, type ImageSet } from './types.js';

export interface DatasetSpec {
  source: 'folder' | 'phantom';
  path?: string;
  classes: { name: string; folder: string }[];
  phantomPerClass: number;
  imageSize: number;
  channels: 1 | 3;
  leakageGuard: { enabled: boolean; maxHammingDistance: number };
  strict: boolean;
  maxPixels: number;
}

export interface SkippedFile {
  file: string;
  reason: string;
}

export interface DataReport {
  source: string;
  fingerprint: string;
  counts: Record<string, number>;
  formats: Record<string, number>;
  /** Smallest and largest original side length seen. */
  sizeRange: [number, number];
  skipped: SkippedFile[];
  groups: {
    count: number;
    multiMember: number;
    imagesInMultiMember: number;
    largest: string[][];
    /** Near-duplicate groups whose images carry different labels: a possible label conflict. */
    crossClass?: string[][];
  };
  leakageGuard: DatasetSpec['leakageGuard'];
}

export interface LoadedDataset {
  set: ImageSet;
  /** Near-duplicate group per image (singletons when the guard is off). */
  groups: Int32Array;
  /** sha256 over the files' relative paths, classes and contents (or the phantom's parameters). */
  fingerprint: string;
  report: DataReport;
  /** True when the preprocessed tensors came from the on-disk cache. */
  cached: boolean;
  /** A cached copy was damaged and rebuilt from the files: which file, and how. */
  cacheRebuilt?: string;
}

/** Where a load is: reading (and hashing) the files, then decoding the ones the cache does not have. */
export interface LoadProgress {
  phase: 'reading' | 'decoding';
  done: number;
  total: number;
}

export interface LoadOptions {
  /** Folder for preprocessed tensors; no caching when absent. */
  cacheDir?: string;
  /** Called after each file read and each file decoded. */
  onProgress?: (progress: LoadProgress) => void;
}

/**
 * Files read or decoded at once. Decoding a small image costs less than handing it to libvips'
 * threads and back, so enough are in flight to keep both cores busy (sharp's work runs on
 * libuv's pool, four threads by default).
 */
const IN_FLIGHT = 16;

const IGNORED = /^(\.|Thumbs\.db$|desktop\.ini$)/i;

function listFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    if (IGNORED.test(entry.name)) continue;
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...listFiles(full));
    else if (entry.isFile()) out.push(full);
  }
  return out.sort();
}

function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  }));
  return out;
}

interface CacheMeta {
  version: typeof CACHE_VERSION;
  /** Size and SHA-256 of the `.u8` file (decoded bytes, a quarter of float32): a cached copy that does not match is rebuilt. */
  images: FileSeal;
  labels: number[];
  ids: string[];
  groups: number[];
  report: DataReport;
}

// 3: the tensors' seal is recorded and checked. 4: decoded bytes (.u8) instead of float32.
const CACHE_VERSION = 4;

export async function loadDataset(spec: DatasetSpec, options: LoadOptions = {}): Promise<LoadedDataset> {
  const classNames = spec.classes.map((c) => c.name);
  const preprocess: PreprocessOptions = { size: spec.imageSize, channels: spec.channels, maxPixels: spec.maxPixels };
  if (spec.source === 'phantom') {
    const set = phantomDataset({ classNames, perClass: spec.phantomPerClass, size: spec.imageSize, channels: spec.channels });
    const fingerprint = sha256(JSON.stringify({ phantom: 1, classNames, perClass: spec.phantomPerClass, size: spec.imageSize, channels: spec.channels }));
    const groups = Int32Array.from({ length: set.count }, (_, i) => i);
    const counts = Object.fromEntries(classNames.map((c) => [c, spec.phantomPerClass]));
    return { set, groups, fingerprint, cached: false, report: { source: 'phantom', fingerprint, counts, formats: { phantom: set.count }, sizeRange: [spec.imageSize, spec.imageSize], skipped: [], groups: summariseGroups(groups, set.ids!, set.labels), leakageGuard: spec.leakageGuard } };
  }
  const root = spec.path!;
  // Files are listed, then read once to hash them (the fingerprint decides whether the cache
  // holds them) and read again only to decode: no file's bytes are kept, so memory does not
  // grow with the dataset's size on disk.
  const listed: { file: string; label: number }[] = [];
  for (const [label, cls] of spec.classes.entries()) {
    const dir = path.join(root, cls.folder);
    if (!fs.existsSync(dir)) throw new DatasetError(`class "${cls.name}": folder ${dir} does not exist`);
    for (const file of listFiles(dir)) listed.push({ file: path.relative(root, file), label });
  }
  let read = 0;
  const hashes = await mapLimit(listed, IN_FLIGHT, async (f) => {
    const hash = sha256(await fs.promises.readFile(path.join(root, f.file)));
    options.onProgress?.({ phase: 'reading', done: ++read, total: listed.length });
    return hash;
  });
  const files = listed.map((f, i) => ({ ...f, hash: hashes[i] }));
  const fingerprint = sha256(files.map((f) => `${spec.classes[f.label].name}\t${f.file}\t${f.hash}`).join('\n'));
  const key = sha256(JSON.stringify({ v: CACHE_VERSION, fingerprint, preprocess, guard: spec.leakageGuard, strict: spec.strict }));
  const cacheBase = options.cacheDir ? path.join(options.cacheDir, `data-${key.slice(0, 24)}`) : undefined;
  let cacheRebuilt: string | undefined;
  // The index (.json) is written after the pixels: without it the entry was never completed.
  if (cacheBase && fs.existsSync(`${cacheBase}.json`)) {
    try {
      const meta = readJsonFile<CacheMeta>(`${cacheBase}.json`);
      if (meta.version !== CACHE_VERSION || !meta.images) throw new DamagedFileError(`${cacheBase}.json`, 'no seal of its pixels');
      const bytes = readSealed(`${cacheBase}.u8`, meta.images);
      const set = imageSetFromBytes(bytes, { labels: Int32Array.from(meta.labels), count: meta.labels.length, height: spec.imageSize, width: spec.imageSize, channels: spec.channels, classNames, ids: meta.ids });
      if (bytes.length !== set.count * spec.imageSize * spec.imageSize * spec.channels) throw new DamagedFileError(`${cacheBase}.u8`, `${bytes.length} values for ${set.count} images`);
      return { set, groups: Int32Array.from(meta.groups), fingerprint, report: meta.report, cached: true };
    } catch (err) {
      if (!isDamagedFileError(err)) throw err;
      cacheRebuilt = `${err.message}; the preprocessed dataset is rebuilt from the image files`;
      fs.rmSync(`${cacheBase}.json`, { force: true });
      fs.rmSync(`${cacheBase}.u8`, { force: true });
    }
  }

  const failures: (SkippedFile & { index: number })[] = [];
  const formats: Record<string, number> = {};
  let minSide = Infinity;
  let maxSide = 0;
  let done = 0;
  const size = spec.imageSize * spec.imageSize * spec.channels;
  // Decoded bytes go straight into one array (a quarter of float32), in listing order.
  const bytes = new Uint8Array(files.length * size);
  const dhashes = await mapLimit(files, IN_FLIGHT, async (f, index) => {
    try {
      const img = await decodeImage(await fs.promises.readFile(path.join(root, f.file)), preprocess);
      bytes.set(img.pixels, index * size);
      formats[img.format] = (formats[img.format] ?? 0) + 1;
      minSide = Math.min(minSide, img.width, img.height);
      maxSide = Math.max(maxSide, img.width, img.height);
      return img.dhash;
    } catch (err) {
      const reason = explainDecodeError(err as Error, preprocess.maxPixels);
      failures.push({ index, file: f.file, reason });
      return undefined;
    } finally {
      options.onProgress?.({ phase: 'decoding', done: ++done, total: files.length });
    }
  });
  // Decoding runs in parallel; order failures by listing so reports and strict errors are stable.
  failures.sort((a, b) => a.index - b.index);
  if (spec.strict && failures.length) {
    const shown = failures.slice(0, 20).map((f) => `${path.join(root, f.file)}: ${f.reason}`);
    throw new DatasetError(`${failures.length} unreadable file(s) with strict: true:\n  ${shown.join('\n  ')}${failures.length > 20 ? `\n  … and ${failures.length - 20} more` : ''}`);
  }
  const skipped: SkippedFile[] = failures.map(({ file, reason }) => ({ file, reason }));
  const keptIndex = files.flatMap((_, i) => (dhashes[i] ? [i] : []));
  // Unreadable files leave gaps: the kept images move down in place.
  keptIndex.forEach((from, to) => {
    if (from !== to) bytes.copyWithin(to * size, from * size, (from + 1) * size);
  });
  const keptBytes = bytes.subarray(0, keptIndex.length * size);
  const kept = keptIndex.map((i) => ({ ...files[i], dhash: dhashes[i]! }));
  const labels = Int32Array.from(kept.map((f) => f.label));
  const ids = kept.map((f) => f.file);
  const groups = spec.leakageGuard.enabled
    ? groupNearDuplicates(kept.map((f) => f.dhash), kept.map((f) => f.hash), spec.leakageGuard.maxHammingDistance)
    : Int32Array.from({ length: kept.length }, (_, i) => i);
  const counts = Object.fromEntries(classNames.map((c, k) => [c, kept.filter((f) => f.label === k).length]));
  const report: DataReport = { source: root, fingerprint, counts, formats, sizeRange: [minSide, maxSide], skipped: [...skipped].sort((a, b) => a.file.localeCompare(b.file)), groups: summariseGroups(groups, ids, labels), leakageGuard: spec.leakageGuard };
  const set = imageSetFromBytes(keptBytes, { labels, count: kept.length, height: spec.imageSize, width: spec.imageSize, channels: spec.channels, classNames, ids });
  if (cacheBase) {
    const seal = writeSealed(`${cacheBase}.u8`, keptBytes);
    const meta: CacheMeta = { version: CACHE_VERSION, images: seal, labels: [...labels], ids, groups: [...groups], report };
    writeJsonAtomic(`${cacheBase}.json`, meta);
  }
  return { set, groups, fingerprint, report, cached: false, ...(cacheRebuilt ? { cacheRebuilt } : {}) };
}

function summariseGroups(groups: Int32Array, ids: string[], labels: ArrayLike<number>): DataReport['groups'] {
  const members = groupMembers(groups);
  const multi = members.filter((m) => m.length > 1);
  return {
    count: members.length,
    multiMember: multi.length,
    imagesInMultiMember: multi.reduce((s, m) => s + m.length, 0),
    largest: multi.slice(0, 10).map((m) => m.map((i) => ids[i])),
    crossClass: multi.filter((m) => new Set(m.map((i) => labels[i])).size > 1).map((m) => m.map((i) => ids[i])),
  };
}

function explainDecodeError(err: Error, maxPixels: number): string {
  const m = err.message;
  if (/pixel limit/i.test(m)) return `larger than the ${maxPixels}-pixel limit (decompression-bomb guard)`;
  if (/unsupported image format|Input buffer contains unsupported/i.test(m)) return 'not an image, or a format sharp cannot read';
  if (/empty file/.test(m)) return 'empty file';
  if (m.startsWith('truncated or corrupt')) return m.split('\n')[0];
  if (/premature end|truncated|VipsJpeg|Corrupt|read error|end of stream/i.test(m)) return `truncated or corrupt image (${m.split('\n')[0]})`;
  return m.split('\n')[0];
}

/** Checks that each class has enough images for the test set plus a training pool. */
export function checkClassCounts(report: DataReport, need: { testPerClass: number; minPoolPerClass: number }): string[] {
  return Object.entries(report.counts)
    .filter(([, n]) => n < need.testPerClass + need.minPoolPerClass)
    .map(([c, n]) => `class "${c}" has ${n} usable images; the test set needs ${need.testPerClass} (testPerClass) and each cell needs ${need.minPoolPerClass} real training images per class (trainingSetSize), ${need.testPerClass + need.minPoolPerClass} in all`);
}
