import type { Env } from '../lib/env.ts';
import type { CommandModule } from './command.ts';

interface CommandEntry {
  summary: string;
  load: () => Promise<CommandModule>;
}

// A computed specifier, not a literal: a part not built yet is reported as "not built yet" at run
// time instead of failing the type-check, and the same code runs from .ts sources and from the
// stripped .js of the images (scripts/build-js.ts).
const ext = import.meta.url.endsWith('.js') ? '.js' : '.ts';
const load = (spec: string): Promise<CommandModule> => import(spec + ext) as Promise<CommandModule>;

const commands: Record<string, CommandEntry> = {
  up: { summary: 'run a whole mesh on this machine from a mesh file (no Kubernetes)', load: () => load('./up') },
  discover: { summary: 'serve per-workload documents from a cluster or a mesh file (:6100)', load: () => load('../discover/main') },
  sidecar: { summary: 'the in-pod proxy: outbound VIP listeners, inbound remapping, DNS, metrics', load: () => load('../sidecar/main') },
  dns: { summary: 'the pod-local DNS responder on its own', load: () => load('./dns') },
  admission: { summary: 'the mutating webhook that injects the sidecar (:8443)', load: () => load('../admission/main') },
};

export const topUsage = `usage: sidemesh <command> [options]

commands:
${Object.entries(commands)
  .map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`)
  .join('\n')}

Run 'sidemesh <command> --help' for a command's options.
`;

/** Dispatches to a subcommand; resolves with the process exit code. */
export async function run(argv: string[], env: Env, out: (s: string) => void = (s) => process.stdout.write(s)): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    out(topUsage);
    return name === undefined ? 2 : 0;
  }
  const entry = commands[name];
  if (!entry) {
    process.stderr.write(`sidemesh: unknown command ${JSON.stringify(name)}\n\n${topUsage}`);
    return 2;
  }
  let mod: CommandModule;
  try {
    mod = await entry.load();
  } catch (err) {
    if (isMissingModule(err)) {
      out(`usage: sidemesh ${name} [options]\n\n  ${entry.summary}\n\nsidemesh ${name}: not built yet\n`);
      return 2;
    }
    throw err;
  }
  if (args.includes('--help') || args.includes('-h')) {
    out(mod.usage);
    return 0;
  }
  return mod.main(args, env);
}

/** A part this build does not carry (each image builds only its own parts), not a broken install. */
function isMissingModule(err: unknown): boolean {
  if (!err || typeof err !== 'object' || !('code' in err) || err.code !== 'ERR_MODULE_NOT_FOUND') return false;
  return /Cannot find module '[^']*\/((discover|sidecar|dns|admission)\/[^']*|main|up)\.(ts|js)'/.test(String((err as { message?: unknown }).message));
}
