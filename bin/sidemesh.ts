#!/usr/bin/env node
import { run } from '../cli/sidemesh.ts';

process.exitCode = await run(process.argv.slice(2), process.env);
