import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDataset, type DatasetSpec, type LoadProgress } from './dataset.js';
import { concat, DatasetError, imageBytes, imageRows, imageSetFromBytes, subset, toSignedUnit } from './types.js';
import { decodeImage, hammingDistance } from './decode.js';
import { phantomDataset } from './phantom.js';
import { splitTest } from './split.js';
import { groupMembers } from './groups.js';
import { damageFile, DAMAGES } from './damage.js';
import { appendLine, readJsonLines } from './durable.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'synthmix-data-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const spec = (root: string, extra: Partial<DatasetSpec> = {}): DatasetSpec => ({
  source: 'folder', path: root, classes: [{ name: 'tumor', folder: 'yes' }, { name: 'healthy', folder: 'no' }],
  phantomPerClass: 0, imageSize: 16, channels: 3, leakageGuard: { enabled: true, maxHammingDistance: 8 }, strict: false, maxPixels: 4_000_000, ...extra,
});

function gradient(w: number, h: number, channels: 1 | 3 | 4, flip = false): Buffer {
  const buf = Buffer.alloc(w * h * channels);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let c = 0; c < channels; c++) {
    buf[(y * w + x) * channels + c] = c === 3 ? 255 : Math.round((255 * (flip ? w - 1 - x : x)) / (w - 1) * (0.5 + 0.5 * Math.sin(y / 3)) ** 2);
  }
  return buf;
}

describe('folder datasets with real-world oddities', () => {
  const root = path.join(tmp, 'odd');
  beforeAll(async () => {
    fs.mkdirSync(path.join(root, 'yes', 'nested'), { recursive: true });
    fs.mkdirSync(path.join(root, 'no'), { recursive: true });
    const raw = (w: number, h: number, ch: 1 | 3 | 4, flip = false) => sharp(gradient(w, h, ch, flip), { raw: { width: w, height: h, channels: ch } });
    await raw(200, 150, 3).jpeg().toFile(path.join(root, 'yes', 'a.jpg'));
    await raw(150, 200, 3).png().toFile(path.join(root, 'yes', 'png-named.jpg'));
    await raw(300, 300, 1).png().toFile(path.join(root, 'yes', 'nested', 'grey.png'));
    await raw(120, 120, 4, true).png().toFile(path.join(root, 'no', 'rgba.png'));
    await raw(640, 480, 3, true).jpeg({ quality: 60 }).toFile(path.join(root, 'no', 'big.jpg'));
    const full = await raw(200, 200, 3, true).jpeg().toBuffer();
    fs.writeFileSync(path.join(root, 'no', 'truncated.jpg'), full.subarray(0, 300));
    fs.writeFileSync(path.join(root, 'no', 'empty.jpg'), Buffer.alloc(0));
    fs.writeFileSync(path.join(root, 'no', 'notes.txt'), 'scanner notes\n');
    fs.writeFileSync(path.join(root, 'no', '.DS_Store'), Buffer.from([0, 0, 0, 1, 66, 117, 100, 49]));
    await raw(2100, 2000, 3).jpeg().toFile(path.join(root, 'no', 'bomb.jpg'));
  });

  it('decodes by content, skips bad files with reasons and keeps going', async () => {
    const d = await loadDataset(spec(root));
    expect(d.report.counts).toEqual({ tumor: 3, healthy: 2 });
    expect(d.report.formats).toEqual({ jpeg: 2, png: 3 });
    expect(d.set.ids).toEqual(['yes/a.jpg', 'yes/nested/grey.png', 'yes/png-named.jpg', 'no/big.jpg', 'no/rgba.png']);
    expect(d.report.skipped).toEqual([
      { file: 'no/bomb.jpg', reason: 'larger than the 4000000-pixel limit (decompression-bomb guard)' },
      { file: 'no/empty.jpg', reason: 'empty file' },
      { file: 'no/notes.txt', reason: 'not an image, or a format sharp cannot read' },
      { file: 'no/truncated.jpg', reason: expect.stringMatching(/^truncated or corrupt jpeg image \(/) },
    ]);
    expect(d.set.images.length).toBe(5 * 16 * 16 * 3);
    const min = d.set.images.reduce((a, b) => Math.min(a, b));
    const max = d.set.images.reduce((a, b) => Math.max(a, b));
    expect(min).toBeGreaterThanOrEqual(-1);
    expect(max).toBeLessThanOrEqual(1);
    expect(max - min).toBeGreaterThan(1);
  });

  it('names every bad file with strict: true, as a dataset error', async () => {
    const err = await loadDataset(spec(root, { strict: true })).catch((e: Error) => e);
    expect(err).toBeInstanceOf(DatasetError);
    expect((err as Error).message).toMatch(/^\d+ unreadable file\(s\) with strict: true:\n/);
    expect((err as Error).message).toMatch(/no\/bomb\.jpg: larger than the 4000000-pixel limit/);
    expect((err as Error).message.split('\n').length).toBeGreaterThan(2);
  });

  it('flags a near-duplicate group that spans two classes as a possible label conflict', async () => {
    const dir = path.join(tmp, 'conflict');
    for (const c of ['yes', 'no']) fs.mkdirSync(path.join(dir, c), { recursive: true });
    const slice = (seed: number) => sharp(Buffer.from(phantomDataset({ classNames: ['tumor'], perClass: 1, size: 32, channels: 1, seed }).images.map((v) => Math.round((v + 1) * 127.5))), { raw: { width: 32, height: 32, channels: 1 } }).png().toBuffer();
    const same = await slice(1);
    fs.writeFileSync(path.join(dir, 'yes', 'a.png'), same);
    fs.writeFileSync(path.join(dir, 'no', 'a-again.png'), same);
    fs.writeFileSync(path.join(dir, 'yes', 'b.png'), await slice(2));
    const d = await loadDataset(spec(dir));
    expect(d.report.groups.crossClass).toEqual([[path.join('yes', 'a.png'), path.join('no', 'a-again.png')].sort((a, b) => (a.startsWith('yes') ? -1 : 1) - (b.startsWith('yes') ? -1 : 1))]);
  });

  it('reports its progress: every file read, then every file decoded; a cached load only reads', async () => {
    const cacheDir = path.join(tmp, 'cache-progress');
    const seen: LoadProgress[] = [];
    const cold = await loadDataset(spec(root), { cacheDir, onProgress: (p) => seen.push(p) });
    const files = cold.set.count + cold.report.skipped.length;
    expect(seen.filter((p) => p.phase === 'reading').map((p) => p.done)).toEqual(Array.from({ length: files }, (_, i) => i + 1));
    expect(seen.filter((p) => p.phase === 'decoding').map((p) => p.done)).toEqual(Array.from({ length: files }, (_, i) => i + 1));
    expect(seen.findIndex((p) => p.phase === 'decoding')).toBe(files);
    expect(new Set(seen.map((p) => p.total))).toEqual(new Set([files]));
    const warm: LoadProgress[] = [];
    await loadDataset(spec(root), { cacheDir, onProgress: (p) => warm.push(p) });
    expect(warm.every((p) => p.phase === 'reading')).toBe(true);
  });

  it('caches the decoded bytes (a quarter of float32) and gives back the same values', async () => {
    const cacheDir = path.join(tmp, 'cache-bytes');
    const cold = await loadDataset(spec(root), { cacheDir });
    const bytes = fs.readdirSync(cacheDir).find((f) => f.endsWith('.u8'))!;
    expect(fs.statSync(path.join(cacheDir, bytes)).size).toBe(cold.set.images.length);
    // Every value is a decoded byte v as v / 127.5 − 1.
    const offGrid = cold.set.images.filter((v) => Math.fround(Math.round((v + 1) * 127.5) / 127.5 - 1) !== v);
    expect(offGrid.length).toBe(0);
    expect((await loadDataset(spec(root), { cacheDir })).set.images).toEqual(cold.set.images);
  });

  it('keeps a loaded set as its uint8 bytes, cold and cached: float32 only for what is read', async () => {
    const cacheDir = path.join(tmp, 'cache-lazy');
    for (const loaded of [await loadDataset(spec(root), { cacheDir }), await loadDataset(spec(root), { cacheDir })]) {
      const bytes = imageBytes(loaded.set)!;
      expect(bytes).toBeInstanceOf(Uint8Array);
      expect(bytes.length).toBe(loaded.set.count * 16 * 16 * 3);
      expect(loaded.set.images).toEqual(toSignedUnit(bytes));
    }
  });

  it('a set made from bytes makes its float32 pixels on first read; subset and concat take rows from the bytes without making them', () => {
    const size = 2 * 2 * 1;
    const bytes = Uint8Array.from({ length: 3 * size }, (_, i) => i * 20);
    const set = imageSetFromBytes(bytes, { labels: Int32Array.from([0, 1, 0]), count: 3, height: 2, width: 2, channels: 1, classNames: ['a', 'b'], ids: ['x', 'y', 'z'] });
    const picked = subset(set, [2, 0]);
    const joined = concat(picked, subset(set, [1]));
    const withWhole = concat(subset(set, [1]), set);
    // Changed after subset and concat: had they read `images`, it would hold the old value.
    bytes[0] = 255;
    expect(set.images[0]).toBe(1);
    expect(Array.from(picked.images)).toEqual(Array.from(toSignedUnit(Uint8Array.from([160, 180, 200, 220, 0, 20, 40, 60]))));
    expect(picked).toMatchObject({ count: 2, labels: Int32Array.from([0, 0]), ids: ['z', 'x'], height: 2, width: 2, channels: 1, classNames: ['a', 'b'] });
    // A subset of a bytes-backed set keeps the bytes of its rows; so does concat of two such sets.
    expect(Array.from(imageBytes(picked)!)).toEqual([160, 180, 200, 220, 0, 20, 40, 60]);
    expect(Array.from(imageBytes(joined)!)).toEqual([160, 180, 200, 220, 0, 20, 40, 60, 80, 100, 120, 140]);
    expect(joined.ids).toEqual(['z', 'x', 'y']);
    expect(Array.from(joined.images.subarray(8))).toEqual(Array.from(toSignedUnit(Uint8Array.from([80, 100, 120, 140]))));
    // concat with the bytes-backed set itself took its rows before the change too.
    expect(withWhole.count).toBe(4);
    expect(Array.from(withWhole.images.subarray(4))).toEqual(Array.from(toSignedUnit(Uint8Array.from({ length: 12 }, (_, i) => i * 20))));
  });

  it('imageRows reads rows as float32 from the bytes or the float32 pixels; a float32 set\'s subsets and a mixed concat are float32', () => {
    const bytes = Uint8Array.from({ length: 3 * 4 }, (_, i) => i * 20);
    const fields = { labels: Int32Array.from([0, 1, 0]), count: 3, height: 2, width: 2, channels: 1, classNames: ['a', 'b'] };
    const fromBytes = imageSetFromBytes(bytes, fields);
    const plain = { ...fields, images: toSignedUnit(bytes) };
    const want = Array.from(toSignedUnit(Uint8Array.from([160, 180, 200, 220, 0, 20, 40, 60])));
    expect(Array.from(imageRows(fromBytes, [2, 0]))).toEqual(want);
    expect(Array.from(imageRows(plain, [2, 0]))).toEqual(want);
    const out = new Float32Array(12).fill(7);
    expect(imageRows(fromBytes, [1], out)).toBe(out);
    expect(Array.from(out)).toEqual([...Array.from(toSignedUnit(Uint8Array.from([80, 100, 120, 140]))), 7, 7, 7, 7, 7, 7, 7, 7]);
    expect(() => imageRows(fromBytes, [0, 1, 2, 0], out)).toThrow('imageRows: room for 3 images, 4 asked');
    // imageRows never makes the bytes-backed set's float32 copy.
    Object.defineProperty(fromBytes, 'images', { get: () => { throw new Error('read images'); } });
    expect(imageRows(fromBytes, [0]).length).toBe(4);
    expect(imageBytes(subset(plain, [0]))).toBeUndefined();
    const mixed = concat(subset(fromBytes, [0]), subset(plain, [1]));
    expect(imageBytes(mixed)).toBeUndefined();
    expect(Array.from(mixed.images)).toEqual(Array.from(toSignedUnit(bytes.subarray(0, 8))));
  });

  it('caches preprocessed tensors keyed by content and options', async () => {
    const cacheDir = path.join(tmp, 'cache');
    const cold = await loadDataset(spec(root), { cacheDir });
    const warm = await loadDataset(spec(root), { cacheDir });
    expect(cold.cached).toBe(false);
    expect(warm.cached).toBe(true);
    expect(warm.set.images).toEqual(cold.set.images);
    expect(warm.fingerprint).toBe(cold.fingerprint);
    const other = await loadDataset(spec(root, { imageSize: 8 }), { cacheDir });
    expect(other.cached).toBe(false);
    expect(other.fingerprint).toBe(cold.fingerprint);
  });

  it.each(DAMAGES)('rebuilds a cached copy that was damaged (%s), saying which file, never loading it', async (how) => {
    const cacheDir = path.join(tmp, `cache-${how}`);
    const cold = await loadDataset(spec(root), { cacheDir });
    const tensors = fs.readdirSync(cacheDir).find((f) => f.endsWith('.u8'))!;
    damageFile(path.join(cacheDir, tensors), how);
    const again = await loadDataset(spec(root), { cacheDir });
    expect(again.cached).toBe(false);
    expect(again.cacheRebuilt).toMatch(new RegExp(`damaged file .*${tensors}: .*; the preprocessed dataset is rebuilt from the image files`));
    expect(again.set.images).toEqual(cold.set.images);
    // The rebuilt copy is whole again.
    expect((await loadDataset(spec(root), { cacheDir })).cached).toBe(true);
    // A torn index counts as damage too.
    damageFile(path.join(cacheDir, tensors.replace(/\.u8$/, '.json')), 'truncate');
    expect((await loadDataset(spec(root), { cacheDir })).cacheRebuilt).toMatch(/not valid JSON/);
  });

  it('makes grey and RGBA images three channels, or one when asked', async () => {
    const grey = fs.readFileSync(path.join(root, 'yes', 'nested', 'grey.png'));
    const rgb = await decodeImage(grey, { size: 8, channels: 3, maxPixels: 1e7 });
    expect(rgb.pixels.length).toBe(8 * 8 * 3);
    expect(rgb.pixels[0]).toBe(rgb.pixels[1]);
    const one = await decodeImage(grey, { size: 8, channels: 1, maxPixels: 1e7 });
    expect(one.pixels.length).toBe(64);
  });
});

describe('phantom source', () => {
  it('is deterministic by seed and in range', () => {
    const a = phantomDataset({ classNames: ['tumor', 'healthy'], perClass: 3, size: 32, channels: 1 });
    const b = phantomDataset({ classNames: ['tumor', 'healthy'], perClass: 3, size: 32, channels: 1 });
    const c = phantomDataset({ classNames: ['tumor', 'healthy'], perClass: 3, size: 32, channels: 1, seed: 2 });
    expect(a.images).toEqual(b.images);
    expect(a.images).not.toEqual(c.images);
    expect(Math.min(...a.images)).toBeGreaterThanOrEqual(-1);
    expect(Math.max(...a.images)).toBeLessThanOrEqual(1);
    expect(Array.from(a.labels)).toEqual([0, 0, 0, 1, 1, 1]);
  });

  it('draws a bright mass only in the tumour class', () => {
    const set = phantomDataset({ classNames: ['tumor', 'healthy'], perClass: 50, size: 64, channels: 1 });
    const bright = (i: number) => set.images.subarray(i * 4096, (i + 1) * 4096).filter((v) => v > 0.55).length;
    const mean = (from: number) => Array.from({ length: 50 }, (_, i) => bright(from + i)).reduce((s, x) => s + x, 0) / 50;
    expect(mean(0)).toBeGreaterThan(mean(50) * 1.3);
  });
});

describe('group-wise test split', () => {
  it('never splits a group and fills each class exactly', () => {
    const labels = Int32Array.from([0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1]);
    const groups = Int32Array.from([0, 0, 1, 2, 3, 3, 4, 4, 4, 5, 6, 7]);
    for (const seed of [1, 2, 3, 4, 5]) {
      const s = splitTest(labels, groups, 2, 2, seed);
      expect([0, 1].map((c) => s.test.filter((i) => labels[i] === c).length)).toEqual([2, 2]);
      for (const members of groupMembers(groups)) {
        const inTest = members.filter((i) => s.test.includes(i)).length;
        expect(inTest === 0 || inTest === members.length).toBe(true);
      }
    }
  });

  it('says which class cannot be filled', () => {
    expect(() => splitTest(Int32Array.from([0, 0, 1]), Int32Array.from([0, 0, 1]), 2, 1, 1, ['tumor', 'healthy'])).toThrow(
      'cannot fill the test set with whole near-duplicate groups (tumor: 0 of 1); lower testPerClass',
    );
  });
});

const BR35H = path.resolve(import.meta.dirname, '../../../../shared/datasets/br35h');
const hasBr35h = fs.existsSync(path.join(BR35H, 'yes')) && fs.existsSync(path.join(BR35H, 'no'));
if (!hasBr35h) console.warn(`BR35H not found at ${BR35H}: the BR35H tests are skipped (they need ../shared/datasets/br35h beside the repository).`);

describe.skipIf(!hasBr35h)(`BR35H at ${BR35H}`, () => {
  let d: Awaited<ReturnType<typeof loadDataset>>;
  beforeAll(async () => {
    d = await loadDataset({ ...spec(BR35H, { imageSize: 32 }) }, { cacheDir: path.resolve(import.meta.dirname, '../../../.cache/test-datasets') });
  }, 300_000);

  it('decodes all 3,000 files, PNGs named .jpg included', () => {
    expect(d.report.counts).toEqual({ tumor: 1500, healthy: 1500 });
    expect(d.report.skipped).toEqual([]);
    expect(d.report.formats.png).toBeGreaterThan(0);
  });

  it('groups the known near-duplicate and exact-duplicate pairs', () => {
    const group = (id: string) => d.groups[d.set.ids!.indexOf(id)];
    expect(group('yes/y100.jpg')).toBe(group('yes/y942.jpg'));
    expect(group('no/no355.jpg')).toBe(group('no/no532.jpg'));
    expect(d.report.groups.imagesInMultiMember).toBeGreaterThan(1500);
  });

  it('keeps every group on one side of the test split; same seed same split, other seed other split', () => {
    const a = splitTest(d.set.labels, d.groups, 2, 500, 1);
    const b = splitTest(d.set.labels, d.groups, 2, 500, 1);
    const c = splitTest(d.set.labels, d.groups, 2, 500, 2);
    expect(a).toEqual(b);
    expect(a.test).not.toEqual(c.test);
    expect(a.test).toHaveLength(1000);
    const testGroups = new Set(a.test.map((i) => d.groups[i]));
    expect(a.pool.filter((i) => testGroups.has(d.groups[i]))).toEqual([]);
  });

  it('the dHash threshold separates the documented pair from unrelated images', async () => {
    const hashOf = async (f: string) => (await decodeImage(fs.readFileSync(path.join(BR35H, f)), { size: 8, channels: 1, maxPixels: 4e7 })).dhash;
    expect(hammingDistance(await hashOf('yes/y100.jpg'), await hashOf('yes/y942.jpg'))).toBeLessThanOrEqual(8);
    expect(hammingDistance(await hashOf('yes/y100.jpg'), await hashOf('no/no355.jpg'))).toBeGreaterThan(40);
  });
});

describe('appended JSON Lines', () => {
  it('skip a line torn by a writer that died, wherever it is, and keep the rest', () => {
    const file = path.join(tmp, 'torn.jsonl');
    fs.writeFileSync(file, '{"a":1}\n{"a":2');
    appendLine(file, '{"a":3}'); // the next writer closes the torn line off first
    fs.appendFileSync(file, '{"a":');
    const torn: number[] = [];
    expect(readJsonLines<{ a: number }>(file, (_line, n) => torn.push(n))).toEqual([{ a: 1 }, { a: 3 }]);
    expect(torn).toEqual([2, 4]);
  });
});
