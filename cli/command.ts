import type { Env } from '../lib/env.ts';

/**
 * What every subcommand module (`discover/main.ts`, `sidecar/main.ts`, …) exports.
 * `main` parses its own flags, reads the env, binds its ports and installs signal handlers.
 * It resolves with an exit code once the process should exit (at once for `--help` or a bad
 * start-up config; after a graceful shutdown for a server).
 */
export interface CommandModule {
  usage: string;
  main(args: string[], env: Env): Promise<number>;
}
