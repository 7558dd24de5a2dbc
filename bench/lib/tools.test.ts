import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { aptInstallLine, findCommand, missingCommands } from './tools.ts';

describe('tools', () => {
  it('maps missing commands to one apt-get line with Debian package names, without duplicates', () => {
    assert.equal(aptInstallLine(['h2load', 'taskset', 'wrk', 'h2load']), 'apt-get install -y nghttp2-client util-linux wrk');
  });

  it('finds installed commands and reports absent ones', () => {
    assert.ok(findCommand('sh')?.endsWith('/sh'));
    assert.deepEqual(missingCommands(['sh', 'weft-no-such-tool']), ['weft-no-such-tool']);
  });
});
