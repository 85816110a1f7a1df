/**
 * Files that cannot lie: every state and cache file is written under a temporary name and
 * renamed into place only when complete, and a cache file's size and SHA-256 are recorded
 * beside it (its "seal") and checked on every read. A crash or a full disk leaves either the old
 * file or none, never a torn one; a file damaged afterwards (truncated, zero-filled, a flipped
 * bit) is refused by name instead of being computed from.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/** What a complete file looks like: its size in bytes and its SHA-256. */
export interface FileSeal {
  size: number;
  sha256: string;
}

/** A file that is missing, torn or altered; `file` names it, `reason` says how. */
export class DamagedFileError extends Error {
  /** A property, not only the class: a plugin may bring its own copy of this module. */
  readonly code = 'SYNTHMIX_DAMAGED_FILE';
  constructor(readonly file: string, readonly reason: string) {
    super(`damaged file ${file}: ${reason}`);
    this.name = 'DamagedFileError';
  }
}

export function isDamagedFileError(err: unknown): err is DamagedFileError {
  return (err as { code?: string } | undefined)?.code === 'SYNTHMIX_DAMAGED_FILE';
}

/** Errors that mean "no room to write here": retrying cannot help, the user must free space. */
const NO_SPACE_CODES = new Set(['ENOSPC', 'EDQUOT', 'EROFS']);

export function isNoSpaceError(err: unknown): boolean {
  // Some writers (libvips through sharp) say it only in words.
  return NO_SPACE_CODES.has((err as { code?: string } | undefined)?.code ?? '') || (err instanceof Error && isNoSpaceMessage(err.message));
}

export function sealOf(bytes: Uint8Array): FileSeal {
  return { size: bytes.byteLength, sha256: createHash('sha256').update(bytes).digest('hex') };
}

/**
 * Writes `data` to `file` through a temporary name in the same folder (unique per writer, so two
 * processes never share one), then renames it into place. On failure the temporary file is
 * removed and the error is thrown as it came (ENOSPC stays ENOSPC).
 */
export function writeFileAtomic(file: string, data: Uint8Array | string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`;
  try {
    const fd = fs.openSync(tmp, 'w');
    try {
      fs.writeFileSync(fd, data);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    // Say which file: an fd write's ENOSPC names none.
    if (err instanceof Error && !(err as { path?: string }).path) err.message += ` (writing ${file})`;
    throw err;
  }
}

/** JSON through {@link writeFileAtomic}. */
export function writeJsonAtomic(file: string, value: unknown, indent?: number): void {
  writeFileAtomic(file, JSON.stringify(value, null, indent));
}

/** Writes `bytes` atomically and returns their seal, to be recorded by whoever indexes the file. */
export function writeSealed(file: string, bytes: Uint8Array): FileSeal {
  writeFileAtomic(file, bytes);
  return sealOf(bytes);
}

/** Checks a seal against bytes read from `file`; throws {@link DamagedFileError} naming it. */
export function checkSeal(file: string, bytes: Uint8Array, seal: FileSeal): void {
  if (bytes.byteLength !== seal.size) throw new DamagedFileError(file, `${bytes.byteLength} bytes, expected ${seal.size}`);
  const actual = createHash('sha256').update(bytes).digest('hex');
  if (actual !== seal.sha256) throw new DamagedFileError(file, `content hash ${actual.slice(0, 12)}…, expected ${seal.sha256.slice(0, 12)}…`);
}

/** Reads a file and checks it against its seal. */
export function readSealed(file: string, seal: FileSeal): Buffer {
  if (!fs.existsSync(file)) throw new DamagedFileError(file, 'missing');
  const bytes = fs.readFileSync(file);
  checkSeal(file, bytes, seal);
  return bytes;
}

/** Parses a JSON file; a torn or garbled one is a {@link DamagedFileError}, not a SyntaxError. */
export function readJsonFile<T>(file: string): T {
  if (!fs.existsSync(file)) throw new DamagedFileError(file, 'missing');
  const text = fs.readFileSync(file, 'utf8');
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    throw new DamagedFileError(file, `not valid JSON (${(err as Error).message})`);
  }
}

/**
 * A JSON cache file that carries its own seal, for a record no index seals: `{ seal, value }`,
 * the seal over the value's JSON text. Written atomically.
 */
export function writeSealedJson(file: string, value: unknown): void {
  const text = JSON.stringify(value);
  // The value's own text goes in as it is: the reader stringifies what it parses, the same text.
  writeFileAtomic(file, `{"seal":${JSON.stringify(sealOf(Buffer.from(text)))},"value":${text}}`);
}

/** Reads {@link writeSealedJson}'s file: torn, garbled or changed since written is a {@link DamagedFileError}. */
export function readSealedJson<T>(file: string): T {
  const record = readJsonFile<{ seal?: FileSeal; value?: unknown }>(file);
  if (!record || typeof record !== 'object' || !record.seal?.sha256 || !('value' in record)) throw new DamagedFileError(file, 'no seal of its content');
  checkSeal(file, Buffer.from(JSON.stringify(record.value)), record.seal);
  return record.value as T;
}

/**
 * Lines of a JSON Lines file that was appended to. A line torn by a crash or a full disk — the
 * last one, or an earlier one that {@link appendLine} closed off when the next writer came — is
 * skipped (and reported through `onTorn`): each line is one record, so the others stand.
 */
export function readJsonLines<T>(file: string, onTorn?: (line: string, lineNumber: number) => void): T[] {
  if (!fs.existsSync(file)) return [];
  const out: T[] = [];
  fs.readFileSync(file, 'utf8').split('\n').forEach((line, i) => {
    if (!line) return;
    try {
      out.push(JSON.parse(line) as T);
    } catch {
      onTorn?.(line, i + 1);
    }
  });
  return out;
}

/** Appends one line; a line of an earlier writer torn without its newline is closed off first. */
export function appendLine(file: string, line: string): void {
  let prefix = '';
  try {
    const size = fs.statSync(file).size;
    if (size > 0) {
      const fd = fs.openSync(file, 'r');
      const last = Buffer.alloc(1);
      fs.readSync(fd, last, 0, 1, size - 1);
      fs.closeSync(fd);
      if (last[0] !== 0x0a) prefix = '\n';
    }
  } catch { /* a new file */ }
  fs.appendFileSync(file, `${prefix}${line}\n`);
}

/** Seals of every file under `dir` (relative paths, sorted), except those `skip` names. */
export function sealFolder(dir: string, skip: (relative: string) => boolean = () => false): Record<string, FileSeal> {
  const out: Record<string, FileSeal> = {};
  const walk = (sub: string) => {
    for (const entry of fs.readdirSync(path.join(dir, sub), { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const relative = sub ? `${sub}/${entry.name}` : entry.name;
      if (entry.isDirectory()) walk(relative);
      else if (entry.isFile() && !relative.endsWith('.tmp') && !skip(relative)) out[relative] = sealOf(fs.readFileSync(path.join(dir, relative)));
    }
  };
  walk('');
  return out;
}

/** Checks every sealed file of a folder; throws {@link DamagedFileError} for the first that differs. */
export function verifyFolder(dir: string, seals: Record<string, FileSeal>): void {
  for (const [relative, seal] of Object.entries(seals)) readSealed(path.join(dir, relative), seal);
}

/** One line for a write that found no room: which file, and what to do. */
export function describeNoSpace(err: unknown): string {
  const e = err as { code?: string; path?: string; message?: string };
  const where = e.path ?? /\(writing ([^)]*)\)/.exec(e.message ?? '')?.[1] ?? /^(\/[^:\n]+):/.exec(e.message ?? '')?.[1];
  const what = e.code === 'EROFS' ? 'read-only filesystem' : e.code === 'EDQUOT' ? 'disk quota exceeded' : 'no space left on device';
  return `${what}${where ? ` writing ${where}` : ''} (${path.dirname(where ?? '.') === '.' ? 'the output or cache folder' : path.dirname(where!)}): free space there and run the same command again; finished work is kept`;
}

/** The same judgement on an error that crossed a process boundary as text (a worker's outcome). */
export function isNoSpaceMessage(message: string): boolean {
  return /\b(ENOSPC|EDQUOT|EROFS)\b|no space left on device|disk quota exceeded|read-only file system/i.test(message);
}
