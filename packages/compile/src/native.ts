/**
 * Loads the project's graph-session addon (native/graph_session.cc, built by `npm run setup`
 * against the libtensorflow tfjs-node uses). "Not built" and "built but does not load" are
 * different errors with different fixes.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface RunFeed { name: string; dtype: number; shape: number[]; data: ArrayBufferView }
export interface RunResult { dtype: number; shape: number[]; data: Uint8Array }

export interface GraphBinding {
  version(): string;
  opList(): Uint8Array;
  open(config: Uint8Array): object;
  importGraph(session: object, graphDef: Uint8Array, prefix: string): void;
  /** With `runOptions` (a serialized RunOptions), the results also carry the run's serialized RunMetadata. */
  run(session: object, feeds: RunFeed[], fetches: string[], targets: string[], runOptions?: Uint8Array): RunResult[] & { metadata?: Uint8Array };
  close(session: object): void;
}

/** The addon's path (src/ and dist/ are both one level below the package). */
export const ADDON_PATH = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'native', 'build', 'Release', 'synthmix_graph.node');

export class AddonNotBuilt extends Error {
  constructor() {
    super(`the compiled path's native addon is not built (${ADDON_PATH}); run \`npm run setup\` (or \`node scripts/build-graph-addon.mjs\`)`);
    this.name = 'AddonNotBuilt';
  }
}

export class AddonLoadFailed extends Error {
  constructor(cause: unknown) {
    super(`the compiled path's native addon is built but does not load: ${(cause as Error).message.split('\n')[0]}; rebuild it with \`node scripts/build-graph-addon.mjs --force\``);
    this.name = 'AddonLoadFailed';
  }
}

let loaded: GraphBinding | undefined;

export function loadGraphBinding(): GraphBinding {
  if (loaded) return loaded;
  if (!fs.existsSync(ADDON_PATH)) throw new AddonNotBuilt();
  try {
    // The addon's RUNPATH points at native/deps/lib, the libtensorflow tfjs-node was built with;
    // the loader reuses the copy tfjs-node already mapped (same SONAME).
    loaded = createRequire(import.meta.url)(ADDON_PATH) as GraphBinding;
  } catch (e) {
    throw new AddonLoadFailed(e);
  }
  return loaded;
}
