/**
 * node:http through `require`, not `import`. An ES import of a builtin builds its namespace from
 * every export, and that reads node:http's lazy exports (the WebSocket classes of node's bundled
 * undici), which loads undici, tls, http2, zlib and worker_threads: +12 MiB RSS in a bare process,
 * measured on Node 24 (docs/sidecar.md, Memory). The sidecar, which has a 64 MiB target, imports
 * node:http only through here; types may still come from `import type`.
 */
import { createRequire } from 'node:module';

export const http: typeof import('node:http') = createRequire(import.meta.url)('node:http');
