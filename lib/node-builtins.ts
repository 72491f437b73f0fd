/**
 * node:http, node:fs and node:util through `require`, not `import`. An ES import of a builtin builds its
 * namespace from every export, which reads the lazy ones: node:http's WebSocket exports load node's
 * bundled undici, tls, http2, zlib and worker_threads (+12 MiB RSS in a bare node 24 process), and
 * node:fs's `promises` loads fs/promises with readline and the REPL history (+2 MiB), node:util's
 * exports load worker_threads. The sidecar, which has a 64 MiB target (docs/sidecar.md, Memory),
 * takes them from here; types may still come from `import type`.
 * test/sidecar/module-footprint.test.ts holds it.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export const http: typeof import('node:http') = require('node:http');
export const fs: typeof import('node:fs') = require('node:fs');
export const util: typeof import('node:util') = require('node:util');
