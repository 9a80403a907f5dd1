#!/usr/bin/env node
// The `efuse-attest` executable.
import { main, quietOnBrokenPipe } from './main.js';

quietOnBrokenPipe();
main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
