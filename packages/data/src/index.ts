export * from './types.js';
export * from './rng.js';
export * from './phantom.js';
export * from './decode.js';
export * from './groups.js';
export * from './split.js';
export * from './dataset.js';
export * from './grid.js';
