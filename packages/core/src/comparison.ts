/** Comparison manifests: several sweeps (a manifest each, plus `set` overrides) reported together. */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isMap, LineCounter, parseDocument } from 'yaml';
import type { JsonSchema } from './contract.js';
import { ManifestError } from './errors.js';
import { loadManifest, type LoadOptions, type ResolvedPlan } from './manifest.js';
import { locator, SchemaChecker } from './schema.js';

const checker = new SchemaChecker();

export const COMPARISON_SCHEMA_PATH = fileURLToPath(new URL('../schema/comparison.schema.json', import.meta.url));
const comparisonSchema: JsonSchema = JSON.parse(fs.readFileSync(COMPARISON_SCHEMA_PATH, 'utf8'));

export interface ComparisonPlan {
  file: string;
  name: string;
  description: string;
  outputDir: string;
  sweeps: { label: string; plan: ResolvedPlan }[];
}

/** True when the YAML text is a comparison manifest (a top-level `compare` list). */
export function isComparison(text: string): boolean {
  const doc = parseDocument(text);
  return isMap(doc.contents) && doc.contents.has('compare');
}

export async function loadComparison(file: string, options: LoadOptions = {}): Promise<ComparisonPlan> {
  const shown = path.relative(options.cwd ?? process.cwd(), file) || file;
  const text = fs.readFileSync(file, 'utf8');
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines });
  if (doc.errors.length) throw new ManifestError(shown, doc.errors.map((e) => ({ where: `${shown}:${lines.linePos(e.pos[0]).line}:${lines.linePos(e.pos[0]).col}`, path: '', message: `YAML syntax: ${e.message.split('\n')[0]}` })));
  const data = doc.toJS() as { name: string; description?: string; output?: string; compare: { label: string; manifest: string; set: string[] }[] };
  const locate = locator(shown, doc, lines, []);
  const problems = checker.check(comparisonSchema, data, locate);
  if (problems.length) throw new ManifestError(shown, problems);
  const sweeps: ComparisonPlan['sweeps'] = [];
  for (const [i, entry] of data.compare.entries()) {
    const sub = path.resolve(path.dirname(file), entry.manifest);
    if (!fs.existsSync(sub)) throw new ManifestError(shown, [{ where: locate(['compare', String(i), 'manifest']), path: `compare.${i}.manifest`, message: `file not found: ${sub}` }]);
    sweeps.push({ label: entry.label, plan: await loadManifest(sub, { ...options, overrides: [...(options.overrides ?? []), ...entry.set] }) });
  }
  const dirs = sweeps.map((s) => s.plan.outputDir);
  const clash = dirs.find((d, i) => dirs.indexOf(d) !== i);
  if (clash) throw new ManifestError(shown, [{ where: locate(['compare']), path: 'compare', message: `two sweeps write to ${clash}; give each its own name (e.g. set: [name=...]) or output` }]);
  const projectRoot = options.projectRoot ?? options.config?.root ?? process.cwd();
  return { file, name: data.name, description: data.description ?? '', outputDir: path.resolve(projectRoot, data.output ?? path.join(options.config?.outputDir ?? 'runs', data.name)), sweeps };
}
