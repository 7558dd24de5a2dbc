import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { create, toJson } from '@bufbuild/protobuf';
import { ServerInfoSchema } from '../../xds/gen/envoy/admin/v3/server_info_pb.js';
import { PROMETHEUS_CONTENT_TYPE, renderPrometheus } from '../../telemetry/prometheus.ts';
import { AdminHttpError, LOG_LEVELS, type AdminTarget, type LogLevel } from './admin-target.ts';
import { renderStatsJson, renderStatsText, type StatsQuery } from './stats-render.ts';

/**
 * The admin HTTP server (Envoy's admin API, default port 15000). node:http is fine here: it is off the
 * data path. Paths match exactly (the query string aside); handlers that change state require POST and
 * answer anything else with 405, as Envoy does. All output is rendered from an AdminTarget.
 */

const TEXT = 'text/plain; charset=UTF-8';
const JSON_TYPE = 'application/json';

/** A handler's answer. */
interface Reply { status: number; body: string; contentType: string; after?: () => void }

interface Request { params: URLSearchParams; method: string }

interface Endpoint {
  path: string;
  help: string;
  /** Envoy's mutates_server_state: only POST is accepted. */
  post: boolean;
  params: readonly (readonly [name: string, help: string])[];
  handle(target: AdminTarget, req: Request): Reply;
}

const text = (body: string, status = 200): Reply => ({ status, body, contentType: TEXT });
const json = (value: unknown, status = 200): Reply => ({ status, body: JSON.stringify(value, null, 2) + '\n', contentType: JSON_TYPE });

/** `?name` with no value counts as set (Envoy's boolean params). */
const flag = (p: URLSearchParams, name: string): boolean => p.has(name);

/** Envoy's server state: PRE_INITIALIZING until ready, DRAINING while health checks are failed. */
function serverState(t: AdminTarget): 'LIVE' | 'DRAINING' | 'PRE_INITIALIZING' {
  if (!t.ready()) return 'PRE_INITIALIZING';
  return t.healthFailing ? 'DRAINING' : 'LIVE';
}

const STATE_ENUM = { LIVE: 0, DRAINING: 1, PRE_INITIALIZING: 2 } as const;

function parseStatsQuery(p: URLSearchParams): StatsQuery | Reply {
  let filter: RegExp | null = null;
  const f = p.get('filter');
  if (f !== null && f !== '') {
    try {
      filter = new RegExp(f);
    } catch {
      return text(`Invalid regex: "${f}"\n`, 400);
    }
  }
  const type = p.get('type') ?? 'All';
  if (type !== 'All' && type !== 'Counters' && type !== 'Gauges' && type !== 'Histograms') {
    return text(`invalid type: ${type}; one of (All, Counters, Gauges, Histograms)\n`, 400);
  }
  return { usedOnly: flag(p, 'usedonly'), filter, type };
}

function loggingUsage(error: string): string {
  return `error: ${error}\n\n` +
    'usage: /logging?<name>=<level> (change single level)\n' +
    'usage: /logging?paths=name1:level1,name2:level2,... (change multiple levels)\n' +
    'usage: /logging?level=<level> (change all levels)\n' +
    `levels: ${LOG_LEVELS.map((l) => l + ' ').join('')}\n`;
}

function listLoggers(t: AdminTarget): string {
  let out = 'active loggers:\n';
  for (const [name, level] of t.loggers.list()) out += `  ${name}: ${level}\n`;
  return out + '\n';
}

const isLevel = (s: string): s is LogLevel => (LOG_LEVELS as readonly string[]).includes(s);

/** Applies one /logging change; returns an error message or null. Validates everything before changing anything. */
function changeLogLevels(t: AdminTarget, p: URLSearchParams): string | null {
  const entries = [...p.entries()];
  if (entries.length !== 1) return 'invalid number of parameters';
  const [key, value] = entries[0];
  if (key === 'level') {
    if (!isLevel(value)) return `unknown logger level ${value}`;
    t.loggers.setAllLevels(value);
    return null;
  }
  const changes: [string, LogLevel][] = [];
  if (key === 'paths') {
    for (const pair of value.split(',').map((s) => s.trim()).filter((s) => s !== '')) {
      const colon = pair.indexOf(':');
      const name = colon === -1 ? '' : pair.slice(0, colon).trim();
      const level = colon === -1 ? '' : pair.slice(colon + 1).trim();
      if (!name || !level) return 'empty logger name or empty logger level';
      if (!isLevel(level)) return `unknown logger level ${level}`;
      changes.push([name, level]);
    }
  } else {
    if (!isLevel(value)) return `unknown logger level ${value}`;
    changes.push([key, value]);
  }
  const known = new Set(t.loggers.list().map(([n]) => n));
  if (changes.some(([n]) => !known.has(n))) return 'unknown logger name';
  for (const [n, l] of changes) t.loggers.setLevel(n, l);
  return null;
}

const ENDPOINTS: readonly Endpoint[] = [
  { path: '/', help: 'Admin home page', post: false, params: [], handle: () => text(helpText()) },
  { path: '/help', help: 'print out list of admin commands', post: false, params: [], handle: () => text(helpText()) },
  {
    path: '/ready', help: 'print server state, return 200 if LIVE, otherwise return 503', post: false, params: [],
    handle: (t) => {
      const s = serverState(t);
      return text(s + '\n', s === 'LIVE' ? 200 : 503);
    },
  },
  {
    path: '/server_info', help: 'print server version/status information', post: false, params: [],
    handle: (t) => {
      const info = t.serverInfo();
      const uptime = BigInt(Math.max(0, Math.floor((Date.now() - info.startTimeMs) / 1000)));
      const msg = create(ServerInfoSchema, {
        version: info.version,
        state: STATE_ENUM[serverState(t)],
        hotRestartVersion: info.hotRestartVersion ?? 'disabled',
        uptimeCurrentEpoch: { seconds: uptime },
        uptimeAllEpochs: { seconds: uptime },
        commandLineOptions: info.commandLineOptions ?? {},
        node: info.node,
      });
      return json(toJson(ServerInfoSchema, msg, { useProtoFieldName: true, alwaysEmitImplicit: true }));
    },
  },
  {
    path: '/stats', help: 'print server stats', post: false,
    params: [
      ['usedonly', 'Only include stats that have been written by system since restart'],
      ['filter', 'Regular expression (ECMAScript) for filtering stats'],
      ['format', 'Format to use; One of (text, json, prometheus)'],
      ['type', 'Stat types to include; One of (All, Counters, Gauges, Histograms)'],
    ],
    handle: (t, req) => {
      const q = parseStatsQuery(req.params);
      if ('status' in q) return q;
      const format = req.params.get('format') ?? 'text';
      if (format === 'json') return json(renderStatsJson(t.stats, q));
      if (format === 'prometheus') return { status: 200, body: renderPrometheus(t.stats, { usedOnly: q.usedOnly, filter: q.filter ?? undefined }), contentType: PROMETHEUS_CONTENT_TYPE };
      if (format !== 'text') return text('usage: /stats?format=(json|prometheus|text)\n', 400);
      return text(renderStatsText(t.stats, q));
    },
  },
  {
    path: '/stats/prometheus', help: 'print server stats in prometheus format', post: false,
    params: [['usedonly', 'Only include stats that have been written by system since restart'], ['filter', 'Regular expression (ECMAScript) for filtering stats']],
    handle: (t, req) => {
      const q = parseStatsQuery(req.params);
      if ('status' in q) return q;
      return { status: 200, body: renderPrometheus(t.stats, { usedOnly: q.usedOnly, filter: q.filter ?? undefined }), contentType: PROMETHEUS_CONTENT_TYPE };
    },
  },
  {
    path: '/reset_counters', help: 'reset all counters to zero', post: true, params: [],
    handle: (t) => {
      for (const c of t.stats.counters.values()) c.value = 0;
      return text('OK\n');
    },
  },
  {
    path: '/clusters', help: 'upstream cluster status', post: false, params: [['format', 'File format to use; One of (text, json)']],
    handle: (t, req) => (req.params.get('format') === 'json' ? json(t.clustersJson()) : text(t.clustersText())),
  },
  {
    path: '/listeners', help: 'print listener info', post: false, params: [['format', 'File format to use; One of (text, json)']],
    handle: (t, req) => {
      if (req.params.get('format') === 'json') {
        return t.listenersJson ? json(t.listenersJson()) : text('listener info is not available\n', 404);
      }
      return t.listenersText ? text(t.listenersText()) : text('listener info is not available\n', 404);
    },
  },
  {
    path: '/config_dump', help: 'dump current Envoy configs', post: false,
    params: [
      ['resource', 'The resource to dump'],
      ['mask', 'The mask to apply'],
      ['name_regex', 'Dump only the currently loaded configurations whose names match the specified regex'],
      ['include_eds', 'Dump currently loaded configuration including EDS'],
    ],
    handle: (t, req) => {
      const p = req.params;
      const nameRegex = p.get('name_regex') ?? undefined;
      if (nameRegex !== undefined) {
        try { new RegExp(nameRegex); } catch { return text(`Error while parsing name_regex from ${nameRegex}\n`, 400); }
      }
      return json(t.configDump({ resource: p.get('resource') ?? undefined, mask: p.get('mask') ?? undefined, nameRegex, includeEds: flag(p, 'include_eds') }));
    },
  },
  {
    path: '/logging', help: 'query/change logging levels (changes need POST)', post: false,
    params: [
      ['paths', 'Change multiple logging levels by setting to <logger_name1>:<desired_level1>,<logger_name2>:<desired_level2>'],
      ['level', `desired logging level, this will change all loggers's level; One of (${LOG_LEVELS.join(', ')})`],
    ],
    handle: (t, req) => {
      if ([...req.params.keys()].length === 0) return text(listLoggers(t));
      // Listing is harmless; changing levels is a mutation and needs POST like every other one.
      if (req.method !== 'POST') return text(`Method ${req.method} not allowed, POST required.`, 405);
      const err = changeLogLevels(t, req.params);
      if (err !== null) return text(loggingUsage(err) + listLoggers(t), 400);
      return text(listLoggers(t));
    },
  },
  {
    path: '/healthcheck/fail', help: 'cause the server to fail health checks', post: true, params: [],
    handle: (t) => { t.healthFailing = true; return text('OK\n'); },
  },
  {
    path: '/healthcheck/ok', help: 'cause the server to pass health checks', post: true, params: [],
    handle: (t) => { t.healthFailing = false; return text('OK\n'); },
  },
  {
    path: '/drain_listeners', help: 'drain listeners', post: true,
    params: [
      ['graceful', 'When draining listeners, enter a graceful drain period prior to closing listeners'],
      ['skip_exit', 'When draining listeners, do not exit after the drain period. This must be used with graceful'],
      ['inboundonly', 'Drains all inbound listeners (traffic_direction INBOUND)'],
    ],
    handle: (t, req) => {
      const graceful = flag(req.params, 'graceful');
      const skipExit = flag(req.params, 'skip_exit');
      if (skipExit && !graceful) return text('skip_exit requires graceful\n', 400);
      t.drainListeners({ inboundOnly: flag(req.params, 'inboundonly'), graceful, skipExit });
      return text('OK\n');
    },
  },
  {
    path: '/quitquitquit', help: 'exit the server', post: true, params: [],
    handle: (t) => ({ ...text('OK\n'), after: () => t.quit() }),
  },
];

const BY_PATH = new Map(ENDPOINTS.map((e) => [e.path, e]));

let help: string | null = null;
/** Envoy's command list: alphabetical, `(POST)` on mutating endpoints, params indented below. */
function helpText(): string {
  if (help !== null) return help;
  let out = 'admin commands are:\n';
  for (const e of [...ENDPOINTS].sort((a, b) => (a.path < b.path ? -1 : 1))) {
    out += `  ${e.path}${e.post ? ' (POST)' : ''}: ${e.help}\n`;
    for (const [name, h] of e.params) out += `      ${name}: ${h}\n`;
  }
  return (help = out);
}

/** Answers one admin request. Exported for tests and for embedding in another server. */
export function handleAdminRequest(target: AdminTarget, method: string, url: string): Reply {
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  const params = new URLSearchParams(q === -1 ? '' : url.slice(q + 1));
  const e = BY_PATH.get(path);
  if (e === undefined) return text('invalid path. ' + helpText(), 404);
  if (e.post && method !== 'POST') return text(`Method ${method} not allowed, POST required.`, 405);
  try {
    return e.handle(target, { params, method });
  } catch (err) {
    if (err instanceof AdminHttpError) return text(err.message + '\n', err.status);
    return text(`${path}: ${err instanceof Error ? err.message : String(err)}\n`, 500);
  }
}

/** Where the admin server listens. */
export interface AdminServerOptions {
  /** Default 127.0.0.1: the admin API can stop the proxy, so it is not exposed unless asked. */
  address?: string;
  /** Default 15000; 0 picks a free port. */
  port?: number;
}

/** A running admin server. */
export interface AdminServer {
  readonly server: Server;
  readonly address: string;
  readonly port: number;
  /** Stops listening and closes open connections. */
  close(): Promise<void>;
}

/** Starts the admin server; resolves once it is listening. */
export function startAdminServer(target: AdminTarget, opts: AdminServerOptions = {}): Promise<AdminServer> {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    req.resume(); // bodies are ignored; drain them so keep-alive works
    const reply = handleAdminRequest(target, req.method ?? 'GET', req.url ?? '/');
    res.writeHead(reply.status, {
      'content-type': reply.contentType,
      'cache-control': 'no-cache, max-age=0',
      'x-content-type-options': 'nosniff',
      'content-length': Buffer.byteLength(reply.body),
    });
    if (reply.after) res.once('finish', reply.after);
    res.end(req.method === 'HEAD' ? undefined : reply.body);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 15000, opts.address ?? '127.0.0.1', () => {
      server.off('error', reject);
      const a = server.address() as AddressInfo;
      resolve({
        server,
        address: a.address,
        port: a.port,
        close: () => new Promise<void>((res) => {
          server.close(() => res());
          server.closeAllConnections();
        }),
      });
    });
  });
}
