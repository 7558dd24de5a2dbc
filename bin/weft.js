#!/usr/bin/env -S node --max-semi-space-size=2
// The weft CLI. Runs the compiled JavaScript in dist/ (built by `npm ci` through the `prepare` script, or
// `npm run build`); with WEFT_FROM_SOURCE=1, or before a build, it runs the TypeScript sources directly.
// --max-semi-space-size=2 keeps V8's young generation small: the proxy's per-request garbage is short-lived,
// and the default (up to 32 MB per semi-space) only inflates RSS.
import { existsSync } from 'node:fs';

if (Number(process.versions.node.split('.')[0]) < 26) {
  process.stderr.write(`weft needs Node 26 or newer (this is ${process.version}). \`npm ci\` installs it into node_modules: run weft as \`npx weft …\` or through npm scripts.\n`);
  process.exit(1);
}

const dist = new URL('../dist/cli/weft.js', import.meta.url);
const useDist = process.env.WEFT_FROM_SOURCE !== '1' && existsSync(dist);
await import(useDist ? dist.href : new URL('../src/cli/weft.ts', import.meta.url).href);
