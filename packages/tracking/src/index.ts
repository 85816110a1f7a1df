export * from './client.js';
export * from './tracker.js';
export * from './server.js';
