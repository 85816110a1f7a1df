/**
 * Validation with positions, for the manifest, comparison manifests, plugin options and the
 * project config alike: ajv's errors turned into `file:line:col: path: expected …, found …`
 * diagnostics, located through the YAML document's node ranges (or the `--set` that made them).
 */
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { isMap, isPair, isScalar, type Document, type LineCounter, type Node } from 'yaml';
import type { JsonSchema } from './contract.js';
import { didYouMean, type Diagnostic } from './errors.js';
import type { Override } from './overrides.js';

export const MANIFEST_SCHEMA_PATH = fileURLToPath(new URL('../schema/manifest.schema.json', import.meta.url));
export const manifestSchema: JsonSchema = JSON.parse(fs.readFileSync(MANIFEST_SCHEMA_PATH, 'utf8'));

/** Validates `value` against `schema` and turns ajv's errors into located, plain diagnostics. */
export class SchemaChecker {
  private readonly ajv = new Ajv({ allErrors: true, useDefaults: true, verbose: true, strict: false });
  private readonly cache = new WeakMap<object, ValidateFunction>();

  check(schema: JsonSchema, value: unknown, locate: (path: string[], key?: string) => string, prefix: string[] = []): Diagnostic[] {
    let validate = this.cache.get(schema);
    if (!validate) {
      validate = this.ajv.compile(schema);
      this.cache.set(schema, validate);
    }
    if (validate(value)) return [];
    return describeErrors(validate.errors ?? []).map(({ path: p, key, message }) => {
      const full = [...prefix, ...p];
      return { where: locate(full, key), path: [...full, ...(key ? [key] : [])].join('.'), message };
    });
  }
}

function describeValue(v: unknown): string {
  if (v === null || v === undefined) return 'nothing';
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return `${typeof v} ${String(v)}`;
}

function expectedType(t: unknown): string {
  const list = Array.isArray(t) ? t : [t];
  const words: Record<string, string> = { integer: 'a whole number', number: 'a number', string: 'text', boolean: 'true or false', array: 'a list', object: 'a mapping' };
  return list.map((x) => words[String(x)] ?? String(x)).join(' or ');
}

function splitPointer(p: string): string[] {
  return p === '' ? [] : p.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function describeErrors(errors: ErrorObject[]): { path: string[]; key?: string; message: string }[] {
  // A failed oneOf reports every branch's errors too; the oneOf's own line says it better.
  const oneOfPaths = errors.filter((e) => e.keyword === 'oneOf').map((e) => e.instancePath);
  const kept = errors.filter((e) => e.keyword === 'oneOf' || !oneOfPaths.some((p) => e.instancePath.startsWith(p) && e.schemaPath.includes('/oneOf/')));
  const out: { path: string[]; key?: string; message: string }[] = [];
  const seen = new Set<string>();
  for (const e of kept) {
    const p = splitPointer(e.instancePath);
    const params = e.params as Record<string, unknown>;
    let item: { path: string[]; key?: string; message: string };
    switch (e.keyword) {
      case 'required':
        item = { path: p, key: String(params.missingProperty), message: 'is required but missing' };
        break;
      case 'additionalProperties': {
        const key = String(params.additionalProperty);
        const known = Object.keys((e.parentSchema as { properties?: object })?.properties ?? {});
        const hint = didYouMean(key, known);
        item = { path: p, key, message: `unknown key "${key}"${hint ? `; did you mean "${hint}"?` : known.length ? `; expected one of ${known.join(', ')}` : ''}` };
        break;
      }
      case 'type':
        item = { path: p, message: `expected ${expectedType(params.type)}, found ${describeValue(e.data)}` };
        break;
      case 'enum': {
        const allowed = (params.allowedValues as unknown[]).map(String);
        const hint = typeof e.data === 'string' ? didYouMean(e.data, allowed) : undefined;
        item = { path: p, message: `expected one of ${allowed.join(', ')}, found ${describeValue(e.data)}${hint ? `; did you mean "${hint}"?` : ''}` };
        break;
      }
      case 'minimum': case 'maximum': case 'exclusiveMinimum': case 'exclusiveMaximum': {
        const op = { minimum: '≥', maximum: '≤', exclusiveMinimum: '>', exclusiveMaximum: '<' }[e.keyword];
        item = { path: p, message: `expected a number ${op} ${params.limit}, found ${describeValue(e.data)}` };
        break;
      }
      case 'minItems': item = { path: p, message: `expected at least ${params.limit} item(s), found ${(e.data as unknown[]).length}` }; break;
      case 'uniqueItems': item = { path: p, message: `items ${params.j} and ${params.i} are the same; each must appear once` }; break;
      case 'minProperties': item = { path: p, message: `expected at least ${params.limit} entries, found ${Object.keys(e.data as object).length}` }; break;
      case 'minLength': item = { path: p, message: 'must not be empty' }; break;
      case 'pattern': {
        // A property name's pattern is reported by its propertyNames error below.
        if ((e as { propertyName?: string }).propertyName !== undefined) continue;
        const described = (e.parentSchema as { description?: string })?.description;
        item = { path: p, message: described ? `expected ${described}, found ${describeValue(e.data)}` : `expected text matching ${params.pattern}, found ${describeValue(e.data)}` };
        break;
      }
      case 'propertyNames': {
        const name = String(params.propertyName);
        const rule = ((e.parentSchema as { propertyNames?: { description?: string } })?.propertyNames?.description) ?? 'a safe name';
        item = { path: p, key: name, message: `name ${JSON.stringify(name)} is not allowed: expected ${rule}` };
        break;
      }
      case 'oneOf': item = { path: p, message: `expected ${describeOneOf(e.parentSchema)}, found ${describeValue(e.data)}` }; break;
      default: item = { path: p, message: `${e.message ?? 'is invalid'}` };
    }
    const id = `${item.path.join('.')}|${item.key}|${item.message}`;
    if (!seen.has(id)) {
      seen.add(id);
      out.push(item);
    }
  }
  return out;
}

function describeOneOf(schema: unknown): string {
  const branches = ((schema as { oneOf?: Record<string, unknown>[] })?.oneOf ?? []).map((b) => {
    if (b.type === 'array') return 'a list';
    if (b.type === 'object' && b.required) return `{${(b.required as string[]).join(', ')}}`;
    return expectedType(b.type);
  });
  return branches.join(' or ');
}

/** Maps a manifest path to `file:line:col` using the YAML document's node ranges. */
export function locator(file: string, doc: Document, lines: LineCounter, overrides: Override[]) {
  return (p: string[], key?: string): string => {
    const full = key ? [...p, key] : p;
    const override = overrides.find((o) => o.path.length <= full.length && o.path.every((s, i) => s === full[i]));
    if (override) return `--set ${override.text}`;
    // Walk down to the deepest node that exists; for a bad key, point at the key itself.
    let node: unknown = doc.contents;
    let at: number | undefined = (doc.contents as Node | null)?.range?.[0];
    for (const segment of full) {
      if (!isMap(node) && !(node && typeof node === 'object' && 'items' in node)) break;
      const items = (node as { items: unknown[] }).items;
      const pair = isMap(node) ? items.find((it) => isPair(it) && isScalar(it.key) && String(it.key.value) === segment) : items[Number(segment)];
      if (!pair) break;
      if (isPair(pair)) {
        const target = segment === key && full[full.length - 1] === segment ? pair.key : pair.value;
        at = (target as Node | null)?.range?.[0] ?? (pair.key as Node).range?.[0] ?? at;
        node = pair.value;
      } else {
        at = (pair as Node).range?.[0] ?? at;
        node = pair;
      }
    }
    const pos = at === undefined ? { line: 1, col: 1 } : lines.linePos(at);
    return `${file}:${pos.line}:${pos.col}`;
  };
}

/** File positions in reading order; `--set` overrides after them. */
export function sortByPosition(diagnostics: Diagnostic[]): Diagnostic[] {
  const key = (d: Diagnostic) => {
    const m = d.where.match(/:(\d+):(\d+)$/);
    return m ? Number(m[1]) * 1e6 + Number(m[2]) : Infinity;
  };
  return diagnostics.map((d, i) => ({ d, i })).sort((a, b) => key(a.d) - key(b.d) || a.i - b.i).map(({ d }) => d);
}
