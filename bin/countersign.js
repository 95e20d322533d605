#!/usr/bin/env node
// Runs the TypeScript sources directly: `npm ci` is the only set-up step, with no build.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
