#!/usr/bin/env -S node --max-semi-space-size=2
// The weft CLI. Runs the compiled JavaScript in dist/ (built by `npm ci` through the `prepare` script, or
// `npm run build`); with WEFT_FROM_SOURCE=1, before a build, or when src/ changed since, it runs the
// TypeScript sources directly.
// --max-semi-space-size=2 keeps V8's young generation small: the proxy's per-request garbage is short-lived,
// and the default (up to 32 MB per semi-space) only inflates RSS.
import { existsSync, readdirSync, statSync } from 'node:fs';

if (Number(process.versions.node.split('.')[0]) < 26) {
  process.stderr.write(`weft needs Node 26 or newer (this is ${process.version}). \`npm ci\` installs it into node_modules: run weft as \`npx weft …\` or through npm scripts.\n`);
  process.exit(1);
}

const dist = new URL('../dist/cli/weft.js', import.meta.url);
const src = new URL('../src/', import.meta.url);
let useDist = process.env.WEFT_FROM_SOURCE !== '1' && existsSync(dist);
// In a checkout (src/ present) a dist/ older than the sources would silently run yesterday's code: run the
// sources instead and say so. A build writes dist/ afresh, so dist/cli/weft.js's time is the build's time.
if (useDist && existsSync(src) && newestSource(src) > statSync(dist).mtimeMs) {
  process.stderr.write('weft: dist/ is older than src/ (run `npm run build`); running the TypeScript sources\n');
  useDist = false;
}
await import(useDist ? dist.href : new URL('../src/cli/weft.ts', import.meta.url).href);

/** The newest modification time of a non-test .ts file under `dir` (generated code excluded). */
function newestSource(dir) {
  let newest = 0;
  for (const f of readdirSync(dir, { recursive: true })) {
    if (!f.endsWith('.ts') || f.endsWith('.test.ts') || f.startsWith('xds/gen/')) continue;
    newest = Math.max(newest, statSync(new URL(f, dir)).mtimeMs);
  }
  return newest;
}
