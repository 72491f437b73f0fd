/**
 * Errors with stable codes. Classify by class or by `code`, never by message text.
 * Every code used anywhere in the project is listed in docs/errors.md (a test checks it).
 */
export class SidemeshError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** Startup configuration (env, flags, files) is invalid. `problems` lists every problem found, not just the first. */
export class ConfigError extends SidemeshError {
  readonly problems: readonly string[];

  constructor(problems: readonly string[], options?: { cause?: unknown }) {
    super('SIDEMESH_CONFIG_INVALID', `invalid configuration:\n  - ${problems.join('\n  - ')}`, options);
    this.problems = problems;
  }
}

/** A discover document (or part of one) does not match the contract in lib/contract.ts. */
export class ContractError extends SidemeshError {
  readonly path: string;

  constructor(path: string, message: string, options?: { cause?: unknown }) {
    super('SIDEMESH_CONTRACT_INVALID', `${path}: ${message}`, options);
    this.path = path;
  }
}

/** A mesh file (`--file mesh.yaml`) cannot be read or does not validate. */
export class MeshFileError extends SidemeshError {
  readonly problems: readonly string[];

  constructor(file: string, problems: readonly string[], options?: { cause?: unknown }) {
    super('SIDEMESH_MESH_FILE_INVALID', `mesh file ${file} is invalid:\n  - ${problems.join('\n  - ')}`, options);
    this.problems = problems;
  }
}

/** Extracts the `code` of any error, for logs and metrics labels. */
export function errorCode(err: unknown): string {
  if (err instanceof SidemeshError) return err.code;
  if (err && typeof err === 'object' && 'code' in err && typeof err.code === 'string') return err.code;
  return 'UNKNOWN';
}
