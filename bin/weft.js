#!/usr/bin/env node
// The CLI is TypeScript run directly by Node's type stripping (Node >= 26 is installed by `npm ci`).
import '../src/cli/weft.ts';
