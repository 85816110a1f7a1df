/**
 * A command is one file: its option schema, its help text (generated from the schema) and what
 * it runs. Parsing is node's util.parseArgs in strict mode, so unknown options are errors.
 */
import { parseArgs } from 'node:util';
import { UserError } from '@synthmix/core';

export interface OptionSpec {
  type: 'boolean' | 'string';
  description: string;
  short?: string;
  multiple?: boolean;
  /** Shown in help: `--set <key=value>`. */
  valueName?: string;
}

export interface ArgSpec {
  name: string;
  description: string;
  required?: boolean;
  variadic?: boolean;
}

/** Where a command writes; tests pass buffers. */
export interface IO {
  stdout: { write(s: string): unknown; isTTY?: boolean; columns?: number; rows?: number };
  stderr: { write(s: string): unknown };
  stdin?: NodeJS.ReadStream;
  env: NodeJS.ProcessEnv;
  cwd: string;
}

export interface CommandInput<O = Record<string, string | boolean | string[] | undefined>> {
  args: string[];
  options: O;
  io: IO;
}

export interface Command {
  name: string;
  /** One line for `synthmix --help` (fits 80 columns with the name). */
  brief: string;
  summary: string;
  args: ArgSpec[];
  options: Record<string, OptionSpec>;
  /** Extra help paragraphs (examples). */
  details?: string[];
  run(input: CommandInput): Promise<number>;
}

/** Exit codes; README lists them. `tracking`: the sweep finished but MLflow refused some calls. */
export const EXIT = { ok: 0, failed: 1, usage: 2, tracking: 3, interrupted: 130 } as const;

export class UsageError extends UserError {}

export function helpText(cmd: Command): string {
  const argList = cmd.args.map((a) => (a.required ? `<${a.name}${a.variadic ? '...' : ''}>` : `[${a.name}${a.variadic ? '...' : ''}]`)).join(' ');
  const lines = [`Usage: synthmix ${cmd.name}${argList ? ` ${argList}` : ''}${Object.keys(cmd.options).length ? ' [options]' : ''}`, '', cmd.summary];
  if (cmd.args.length) {
    lines.push('', 'Arguments:');
    for (const a of cmd.args) lines.push(`  ${a.name.padEnd(22)}${a.description}`);
  }
  lines.push('', 'Options:');
  const opts: [string, string][] = Object.entries(cmd.options).map(([name, o]) => [
    `${o.short ? `-${o.short}, ` : ''}--${name}${o.type === 'string' ? ` <${o.valueName ?? 'value'}>` : ''}`,
    `${o.description}${o.multiple ? ' (repeatable)' : ''}`,
  ]);
  opts.push(['-h, --help', 'Show this help']);
  for (const [flag, desc] of opts) lines.push(`  ${flag.padEnd(22)}${flag.length >= 22 ? `\n  ${''.padEnd(22)}` : ''}${desc}`);
  if (cmd.details?.length) lines.push('', ...cmd.details);
  return `${lines.join('\n')}\n`;
}

export function parseCommand(cmd: Command, argv: string[]): { args: string[]; options: Record<string, string | boolean | string[] | undefined>; help: boolean } {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      allowNegative: false,
      options: { ...Object.fromEntries(Object.entries(cmd.options).map(([k, o]) => [k, { type: o.type, multiple: o.multiple ?? false, ...(o.short ? { short: o.short } : {}) }])), help: { type: 'boolean', short: 'h' } },
    } as Parameters<typeof parseArgs>[0]);
  } catch (err) {
    const message = (err as Error).message.replace(/\. To specify a positional argument.*$/s, '').replace(/^Unknown option '(.+?)'$/, 'unknown option $1');
    throw new UsageError(message);
  }
  const options = parsed.values as Record<string, string | boolean | string[] | undefined>;
  if (options.help) return { args: parsed.positionals, options, help: true };
  const required = cmd.args.filter((a) => a.required);
  if (parsed.positionals.length < required.length) throw new UsageError(`missing argument <${required[parsed.positionals.length].name}>`);
  if (!cmd.args.some((a) => a.variadic) && parsed.positionals.length > cmd.args.length) throw new UsageError(`unexpected argument "${parsed.positionals[cmd.args.length]}"`);
  return { args: parsed.positionals, options, help: false };
}
