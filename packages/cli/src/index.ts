export { main, COMMANDS, VERSION } from './cli.js';
export { writeReport } from './report.js';
