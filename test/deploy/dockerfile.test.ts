import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildJs } from '../../scripts/build-js.ts';

// No Docker engine here: check what can be checked without building.
const root = join(import.meta.dirname, '..', '..');

interface Stage { from: string; name?: string; lines: string[] }

function stages(file: string): Stage[] {
  const text = readFileSync(join(root, file), 'utf8').replace(/\\\n/g, ' ');
  const out: Stage[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const from = /^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/i.exec(line);
    if (from) out.push({ from: from[1], name: from[2], lines: [] });
    else out.at(-1)!.lines.push(line);
  }
  return out;
}

function dockerignoreAllows(path: string): boolean {
  const rules = readFileSync(join(root, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  const top = path.replace(/^\.\//, '').split('/')[0];
  let allowed = true;
  for (const r of rules) {
    const neg = r.startsWith('!');
    const pat = (neg ? r.slice(1) : r).replace(/\/$/, '');
    if (pat === '*' || pat === top) allowed = neg;
  }
  return allowed;
}

const images = [
  { file: 'Dockerfile.sidecar', command: 'sidecar', parts: ['sidecar', 'dns'], commands: ['sidecar', 'dns'], absent: ['up', 'discover', 'admission'] },
  { file: 'Dockerfile.discover', command: 'discover', parts: ['discover', 'admission'], commands: ['discover', 'admission'], absent: ['up', 'sidecar', 'dns'] },
];

describe.each(images)('$file', ({ file, command, parts, commands, absent }) => {
  const all = stages(file);
  const run = all.at(-1)!;

  it('pins a version in every FROM', () => {
    for (const s of all) {
      expect(s.from, s.from).toMatch(/[:@]/);
      expect(s.from).not.toMatch(/:latest$/);
      expect(s.from).toMatch(/24/);
    }
  });

  it('is multi-stage: production dependencies with npm ci --omit=dev, sources stripped to JS, no RUN at run time', () => {
    expect(all.length).toBeGreaterThanOrEqual(2);
    expect(all[0].lines.some((l) => /^RUN .*npm ci .*--omit=dev/.test(l))).toBe(true);
    expect(all[0].lines).toContain(`RUN node scripts/build-js.ts dist ${['bin', 'cli', 'lib', ...parts].join(' ')}`);
    expect(run.lines.some((l) => l.startsWith('RUN'))).toBe(false);
    expect(run.lines).toContain(`COPY --from=${all[0].name} /app/node_modules ./node_modules`);
    expect(run.lines).toContain(`COPY --from=${all[0].name} /app/dist/ ./`);
  });

  it('copies only sources that exist and that .dockerignore lets through', () => {
    for (const s of all) {
      for (const l of s.lines.filter((x) => x.startsWith('COPY') && !x.includes('--from'))) {
        const args = l.split(/\s+/).slice(1).filter((a) => !a.startsWith('--'));
        for (const src of args.slice(0, -1)) {
          expect(existsSync(join(root, src)), `${file}: ${src}`).toBe(true);
          expect(dockerignoreAllows(src), `${file}: ${src} is excluded by .dockerignore`).toBe(true);
        }
      }
    }
    for (const dir of ['scripts', 'bin', 'cli', 'lib', ...parts]) expect(all[0].lines.some((l) => l.startsWith(`COPY ${dir}/`)), dir).toBe(true);
    expect(all.some((s) => s.lines.some((l) => /^COPY (test|bench|docs|deploy)\b/.test(l)))).toBe(false);
  });

  it('runs as a non-root numeric user', () => {
    const user = run.lines.filter((l) => l.startsWith('USER')).at(-1);
    expect(user).toBe('USER 65532:65532');
  });

  it(`starts \`node bin/sidemesh.js ${command}\` from the stripped build`, () => {
    const entry = JSON.parse(run.lines.find((l) => l.startsWith('ENTRYPOINT'))!.slice('ENTRYPOINT'.length)) as string[];
    const cmd = JSON.parse(run.lines.find((l) => l.startsWith('CMD'))!.slice('CMD'.length)) as string[];
    expect(entry[0]).toBe('/nodejs/bin/node');
    expect(entry.at(-1)).toBe('bin/sidemesh.js');
    expect(entry.slice(1, -1).every((f) => f.startsWith('--'))).toBe(true);
    expect(cmd).toEqual([command]);
    // Build exactly what the image builds, then start it the way the image does.
    const out = mkdtempSync(join(tmpdir(), 'sidemesh-image-'));
    try {
      const files = buildJs(root, out, ['bin', 'cli', 'lib', ...parts]);
      for (const f of files) expect(readFileSync(f, 'utf8'), f).not.toMatch(/from\s*['"]\.{1,2}\/[^'"]+\.ts['"]/);
      symlinkSync(join(root, 'node_modules'), join(out, 'node_modules'));
      // Every command of the image's parts starts; the others say they are not in this build.
      for (const c of commands) {
        const r = spawnSync(process.execPath, [...entry.slice(1), c, '--help'], { cwd: out, encoding: 'utf8', timeout: 15_000 });
        expect(r.stderr, `${c} --help`).toBe('');
        expect(r.stdout).toMatch(new RegExp(`^usage: sidemesh ${c}`));
        expect(r.status).toBe(0);
      }
      for (const c of absent) {
        const r = spawnSync(process.execPath, [...entry.slice(1), c, '--help'], { cwd: out, encoding: 'utf8', timeout: 15_000 });
        expect(r.stdout, `${c} --help`).toMatch(new RegExp(`sidemesh ${c}: not built yet`));
        expect(r.stderr, `${c} --help`).toBe('');
        expect(r.status).toBe(2);
      }
      if (commands.includes('dns')) {
        // The file mode compiles mesh files with discover's code: a clear refusal, not a stack trace.
        const r = spawnSync(process.execPath, [...entry.slice(1), 'dns', '--file', join(root, 'examples/mesh.yaml')], { cwd: out, encoding: 'utf8', timeout: 15_000 });
        expect(r.stderr).toMatch(/^sidemesh dns: --file needs discover\/, which this build does not include/);
        expect(r.status).toBe(2);
      }
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});

describe('Dockerfile.discover also runs the webhook', () => {
  it('`node bin/sidemesh.ts admission --help` starts', () => {
    const r = spawnSync(process.execPath, ['bin/sidemesh.ts', 'admission', '--help'], { cwd: root, encoding: 'utf8', timeout: 15_000 });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^usage: sidemesh admission/);
  });
});
