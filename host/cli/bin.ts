#!/usr/bin/env node
// The `efuse-attest` executable.
import { main } from './main.js';

main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
