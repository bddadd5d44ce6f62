#!/usr/bin/env node
/** The `atomic-fs` binary: everything is in main.ts, which tests call in-process. */
import { main } from './main.js';

process.exitCode = await main(process.argv.slice(2));
