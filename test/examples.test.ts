/**
 * Every configuration under examples/ goes through `weft validate` (the real CLI, as users run it): the
 * examples must be valid, and the deliberately invalid ones under examples/docs/invalid/ must fail with the
 * exact message docs/configuration.md shows for them.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const cli = join(root, 'src/cli/weft.ts');

/**
 * Not bootstraps: xDS resource files and a gRPC client bootstrap (checked by test/xds-server.test.ts), and
 * `weft ratelimit` service configurations (checked by test/ratelimit.test.ts).
 */
const NOT_BOOTSTRAPS = new Set([join('examples', 'control-plane'), join('examples', 'ratelimit')]);

/** Bootstrap files (YAML/JSON) under `dir`, relative to the repository root. */
function configFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(join(root, dir), { withFileTypes: true })) {
    const rel = join(dir, e.name);
    if (e.isDirectory()) { if (!NOT_BOOTSTRAPS.has(rel)) out.push(...configFiles(rel)); }
    else if (/\.(ya?ml|json)$/.test(e.name)) out.push(rel);
  }
  return out.sort();
}

function validate(file: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [cli, 'validate', '-c', file], { cwd: root, timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

/** The `weft: invalid configuration: …` line docs/configuration.md shows after `weft validate -c <file>`. */
function documentedError(file: string): string | undefined {
  const doc = readFileSync(join(root, 'docs/configuration.md'), 'utf8');
  const m = new RegExp(`\\$ npx weft validate -c ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\n(weft: .*)\\n`).exec(doc);
  return m?.[1];
}

const files = configFiles('examples');

test('there are examples to check', () => {
  assert.ok(files.length >= 5, files.join(', '));
  assert.ok(files.some((f) => f.startsWith('examples/docs/invalid/')));
});

// Each check spawns a CLI process: run them a few at a time.
describe('weft validate on every example', { concurrency: 4 }, () => {
  for (const file of files) {
    const invalid = file.startsWith(join('examples', 'docs', 'invalid') + '/');
    if (!invalid) {
      test(`accepts ${file}`, async () => {
        const r = await validate(file);
        assert.equal(r.stderr, '');
        assert.equal(r.code, 0);
        assert.equal(r.stdout, `${file}: configuration OK\n`);
      });
    } else {
      test(`rejects ${file} with the documented message`, async () => {
        const r = await validate(file);
        assert.equal(r.code, 1, r.stdout);
        assert.equal(r.stdout, '');
        const want = documentedError(file);
        assert.ok(want !== undefined, `docs/configuration.md shows no output for ${file}`);
        // The field path and the explanation are as documented; where the field is written
        // (` (file:line:col)`), when given, must name this file.
        const loc = / \((\S+):\d+:\d+\)$/;
        const got = r.stderr.replace(/\n$/, '');
        assert.equal(got.replace(loc, ''), want.replace(loc, ''));
        const where = loc.exec(got);
        if (where !== null) assert.equal(where[1], file);
        assert.ok(r.stderr.endsWith('\n') && !got.includes('\n'), 'one line');
      });
    }
  }
});
