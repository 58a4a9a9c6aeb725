#!/usr/bin/env node
// Installed entry point: runs the compiled CLI from dist/.
import { main } from '../dist/src/cli.js';
main(process.argv.slice(2)).then((code) => { if (typeof code === 'number') process.exitCode = code; });
