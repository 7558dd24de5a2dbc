/**
 * `weft` — one command for every part of the mesh.
 *   weft proxy -c bootstrap.yaml     run the proxy from an Envoy v3 bootstrap (YAML or JSON)
 *   weft validate -c bootstrap.yaml  check a bootstrap without running it
 *   weft demo                        the front-proxy example with two sample upstreams
 *   weft control --xds-dir DIR       the xDS (ADS) server, serving resource files from DIR
 *   weft ratelimit --config F --redis redis://h:p   the global rate-limit service (counts in Redis)
 */
import { parseArgs } from 'node:util';
import { WEFT_VERSION } from '../proxy/proxy.ts';

const USAGE = `weft ${WEFT_VERSION} — a service mesh

Usage:
  weft proxy -c <bootstrap.yaml|json> [--admin-port N]   run the proxy
  weft validate -c <bootstrap.yaml|json>                 check a config and exit
  weft demo                                              run examples/front-proxy with sample upstreams
  weft control --xds-dir DIR [--xds-port 15010] [--debug-port 15014] [--debounce-ms 100]
                                                         the xDS server (ADS, SotW + delta) for files in DIR
  weft ratelimit --config FILE|DIR --redis redis://host:port [--port 8081] [--debug-port 6070]
                                                         the global rate-limit service (gRPC, counts in Redis)
  weft sample-service <name> <port>                      a sample upstream that echoes requests as JSON
  weft version
`;

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'proxy': {
      const { values } = parseArgs({ args: rest, options: { config: { type: 'string', short: 'c' }, 'config-path': { type: 'string' }, 'admin-port': { type: 'string' } } });
      const file = values.config ?? values['config-path'];
      if (!file) { process.stderr.write('weft proxy: -c <bootstrap file> is required\n'); return 2; }
      const { runProxy } = await import('./proxy-command.ts');
      return runProxy(file, { adminPort: values['admin-port'] === undefined ? undefined : Number(values['admin-port']) });
    }
    case 'validate': {
      const { values } = parseArgs({ args: rest, options: { config: { type: 'string', short: 'c' } } });
      if (!values.config) { process.stderr.write('weft validate: -c <bootstrap file> is required\n'); return 2; }
      const { validateConfig } = await import('./proxy-command.ts');
      return validateConfig(values.config);
    }
    case 'control': {
      const { values } = parseArgs({ args: rest, options: { 'xds-dir': { type: 'string' }, 'xds-port': { type: 'string' }, 'debug-port': { type: 'string' }, 'debounce-ms': { type: 'string' }, host: { type: 'string' } } });
      if (!values['xds-dir']) { process.stderr.write('weft control: --xds-dir <directory> is required\n'); return 2; }
      const { runControl, parseNumberOption } = await import('./control-command.ts');
      let opts;
      try {
        opts = {
          xdsDir: values['xds-dir'], host: values.host ?? '0.0.0.0',
          xdsPort: parseNumberOption('xds-port', values['xds-port'], 15010),
          debugPort: parseNumberOption('debug-port', values['debug-port'], 15014),
          debounceMs: parseNumberOption('debounce-ms', values['debounce-ms'], 100, 60_000),
        };
      } catch (e) { process.stderr.write(`weft control: ${(e as Error).message}\n`); return 2; }
      return runControl(opts);
    }
    case 'ratelimit': {
      const { values } = parseArgs({ args: rest, options: { config: { type: 'string', short: 'c' }, redis: { type: 'string' }, port: { type: 'string' }, 'debug-port': { type: 'string' }, host: { type: 'string' }, 'redis-timeout-ms': { type: 'string' } } });
      if (!values.config || !values.redis) { process.stderr.write('weft ratelimit: --config <file or directory> and --redis redis://host:port are required\n'); return 2; }
      const { parseNumberOption } = await import('./control-command.ts');
      const { runRateLimit } = await import('./ratelimit-command.ts');
      let opts;
      try {
        opts = {
          config: values.config, redis: values.redis, host: values.host ?? '0.0.0.0',
          port: parseNumberOption('port', values.port, 8081),
          debugPort: parseNumberOption('debug-port', values['debug-port'], 6070),
          redisTimeoutMs: parseNumberOption('redis-timeout-ms', values['redis-timeout-ms'], 500, 60_000),
        };
      } catch (e) { process.stderr.write(`weft ratelimit: ${(e as Error).message}\n`); return 2; }
      return runRateLimit(opts);
    }
    case 'demo': {
      const { runDemo } = await import('./demo-command.ts');
      return runDemo(rest);
    }
    case 'sample-service': {
      const [name = 'service', port = '18081'] = rest;
      const { startSampleService } = await import('./sample-service.ts');
      await startSampleService(name, Number(port));
      process.stderr.write(`${name} listening on 127.0.0.1:${port}\n`);
      return -1;
    }
    case 'version': case '--version': case '-v':
      process.stdout.write(`weft ${WEFT_VERSION} (node ${process.version})\n`);
      return 0;
    case undefined: case 'help': case '--help': case '-h':
      process.stdout.write(USAGE);
      return 0;
    default:
      process.stderr.write(`weft: unknown command "${cmd}"\n\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then((code) => { if (code !== -1) process.exitCode = code; }, (e: unknown) => {
  process.stderr.write(`weft: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
  process.exitCode = 1;
});
