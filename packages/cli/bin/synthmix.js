#!/usr/bin/env node
// NO_COLOR (https://no-color.org) is not read by chalk, Ink's colour library; FORCE_COLOR=0 is,
// and it must be set before chalk loads.
if (process.env.NO_COLOR) process.env.FORCE_COLOR = '0';
const { main } = await import('../dist/cli.js');

process.exitCode = await main(process.argv.slice(2));
