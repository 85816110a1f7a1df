/** One problem in a user's input, with where it is. */
export interface Diagnostic {
  /** `file:line:col`, or `--set key=value` for an override, or a file alone. */
  where: string;
  /** Dotted path inside the manifest (`generator.options.epochs`), empty for the whole file. */
  path: string;
  message: string;
}

/**
 * A mistake the user can fix (bad manifest, missing plugin, missing data). The CLI prints its
 * message without a stack trace and exits with code 2.
 */
export class UserError extends Error {
  constructor(message: string, readonly diagnostics: Diagnostic[] = []) {
    super(message);
    this.name = 'UserError';
  }
}

/** All problems found in one manifest, one plain line each. */
export class ManifestError extends UserError {
  constructor(readonly file: string, diagnostics: Diagnostic[]) {
    super(diagnostics.map(formatDiagnostic).join('\n'), diagnostics);
    this.name = 'ManifestError';
  }
}

export function formatDiagnostic(d: Diagnostic): string {
  return `${d.where}: ${d.path ? `${d.path}: ` : ''}${d.message}`;
}

/** Levenshtein distance, for "did you mean" hints. */
export function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0];
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j];
      prev[j] = Math.min(prev[j] + 1, prev[j - 1] + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length];
}

/** The closest candidate within a third of the word's length, if any. */
export function didYouMean(word: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  const allowed = word.length >= 4 ? Math.max(2, Math.floor(word.length / 3)) : 1;
  return best !== undefined && bestDistance <= allowed ? best : undefined;
}

/** The user stopped the sweep while this job ran. */
export class JobInterrupted extends Error {
  constructor() {
    super('interrupted');
  }
}
