/** `--set key=value` overrides of a manifest: parsed here, applied to the YAML document before validation. */
import { parseDocument } from 'yaml';
import { UserError } from './errors.js';

/** A `--set key=value` override. */
export interface Override {
  path: string[];
  value: unknown;
  text: string;
}

export function parseOverride(text: string): Override {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new UserError(`--set ${text}: expected key=value, e.g. --set generator.options.epochs=5`);
  const key = text.slice(0, eq).trim();
  const raw = text.slice(eq + 1);
  const doc = parseDocument(raw);
  const value = doc.errors.length ? raw : doc.toJS();
  return { path: key.split('.'), value, text };
}
