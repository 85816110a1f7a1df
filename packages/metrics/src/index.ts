export * from './binary.js';
export * from './multiclass.js';
export * from './stats.js';
export * from './quality.js';
export * from './task.js';
export * from './predictions.js';
export * from './noninferiority.js';
export * from './prdc.js';
