/** The synthmix command line: dispatch, help, exit codes. Commands live in ./commands. */
import { describeNoSpace, formatDiagnostic, isNoSpaceError, ManifestError, UserError } from '@synthmix/core';
import { DatasetError } from '@synthmix/data';
import { EXIT, helpText, parseCommand, UsageError, type Command, type IO } from './command.js';
import { dataInspect } from './commands/data.js';
import { doctor } from './commands/doctor.js';
import { metrics } from './commands/metrics.js';
import { mlflow } from './commands/mlflow.js';
import { plugins } from './commands/plugins.js';
import { report } from './commands/report.js';
import { run } from './commands/run.js';
import { sync } from './commands/sync.js';
import { validate } from './commands/validate.js';
import { worker } from './commands/worker.js';
import { quality } from './commands/quality.js';

export const VERSION = '0.1.0';
export const COMMANDS: Command[] = [run, validate, plugins, doctor, dataInspect, metrics, quality, report, mlflow, sync, worker];

export function mainHelp(): string {
  return [
    'Usage: synthmix <command> [options]',
    '',
    'How much synthetic data should you mix into your real training set? synthmix trains a',
    'generator on real images and a classifier on every real:synthetic ratio, and reports how',
    'each does on a fixed real test set.',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(14)}${c.brief}`),
    '',
    'Options:',
    '  -h, --help    Show help (also: synthmix <command> --help)',
    '  --version     Print the version',
    '  --debug       Show the stack trace of an error (with any command)',
    '',
    'Exit codes: 0 ok, 1 run failed, 2 usage or validation error, 130 interrupted.',
    '',
  ].join('\n');
}

function defaultIO(): IO {
  return { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env, cwd: process.cwd() };
}

export async function main(argv: string[], io: IO = defaultIO()): Promise<number> {
  // --debug (anywhere): show the stack of an error instead of one line.
  const debug = argv.includes('--debug');
  argv = argv.filter((a) => a !== '--debug');
  const [first, ...rest] = argv;
  if (!first || first === '--help' || first === '-h' || first === 'help') {
    io.stdout.write(mainHelp());
    return first ? EXIT.ok : EXIT.usage;
  }
  if (first === '--version' || first === '-v') {
    io.stdout.write(`${VERSION}\n`);
    return EXIT.ok;
  }
  const two = `${first} ${rest[0] ?? ''}`;
  // `synthmix ui` is another name for `synthmix mlflow`.
  const name = first === 'ui' ? 'mlflow' : first;
  const cmd = COMMANDS.find((c) => c.name === two) ?? COMMANDS.find((c) => c.name === name);
  const group = COMMANDS.filter((c) => c.name.startsWith(`${first} `));
  if (!cmd && group.length) {
    // A command group (`synthmix data`): list its commands.
    const asked = rest[0] === '--help' || rest[0] === '-h';
    const text = [`Usage: synthmix ${first} <command> [options]`, '', 'Commands:', ...group.map((c) => `  ${c.name.padEnd(16)}${c.brief}`), '', `Run \`synthmix ${first} <command> --help\` for a command's options.`, ''].join('\n');
    if (asked) io.stdout.write(text);
    else io.stderr.write(`synthmix ${first}: ${rest[0] ? `unknown command "${rest[0]}"` : 'missing command'}\n${text}`);
    return asked ? EXIT.ok : EXIT.usage;
  }
  if (!cmd) {
    io.stderr.write(`synthmix: unknown command "${first}"\nRun \`synthmix --help\` for the list of commands.\n`);
    return EXIT.usage;
  }
  const args = cmd.name.includes(' ') ? rest.slice(1) : rest;
  try {
    const parsed = parseCommand(cmd, args);
    if (parsed.help) {
      io.stdout.write(helpText(cmd));
      return EXIT.ok;
    }
    return await cmd.run({ args: parsed.args, options: parsed.options, io });
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(`synthmix ${cmd.name}: ${err.message}\nRun \`synthmix ${cmd.name} --help\` for usage.\n`);
      return EXIT.usage;
    }
    if (err instanceof ManifestError) {
      io.stderr.write(`${err.diagnostics.map(formatDiagnostic).join('\n')}\n`);
      return EXIT.usage;
    }
    if (isNoSpaceError(err)) {
      // A full disk is the machine's state, not a bug: one line, which folder, no trace.
      io.stderr.write(`synthmix ${cmd.name}: ${describeNoSpace(err)}\n${debug ? `${(err as Error).stack}\n` : ''}`);
      return EXIT.failed;
    }
    if (err instanceof UserError || err instanceof DatasetError) {
      io.stderr.write(`synthmix ${cmd.name}: ${err.message}\n${debug ? `${err.stack}\n` : ''}`);
      return EXIT.usage;
    }
    io.stderr.write(`synthmix ${cmd.name}: failed: ${debug ? ((err as Error).stack ?? String(err)) : `${(err as Error).message ?? String(err)}\n(run again with --debug for the stack trace)`}\n`);
    return EXIT.failed;
  }
}
