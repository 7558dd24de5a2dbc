/**
 * `weft control --xds-dir DIR`: xDS resources from YAML/JSON files in a watched directory.
 *
 * Each file has Envoy's filesystem-subscription format (what `path_config_source` reads: a DiscoveryResponse
 * in YAML/JSON, i.e. a `resources:` list of typed resources with `@type`). Files at the top of DIR are the
 * default set for every node; a sub-directory named after a node id or a node cluster extends that set for
 * those nodes, replacing resources of the same type and name.
 *
 * Bad input never half-applies: a file that does not parse is rejected with the path of the bad field and
 * its previous good version stays in use; a set of files that is inconsistent (a listener naming a route
 * configuration no file defines) is rejected whole and the previous snapshots keep being served.
 * Changes are debounced: editors and `cp -r` write in bursts, and a reload reads everything (but parses
 * only the files whose text changed: with a thousand files, parsing them all dominated a one-file change).
 */
import { watch, readdirSync, readFileSync, type FSWatcher } from 'node:fs';
import { join, relative } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { DiscoveryResponseSchema } from '../gen/envoy/service/discovery/v3/discovery_pb.js';
import { ConfigError, joinPath } from '../config-error.ts';
import { parseMessageJson } from '../json.ts';
import { Debouncer } from './debounce.ts';
import { InconsistentSnapshotError, Snapshot, makeResource, type SnapshotCache, type XdsResource } from './snapshot-cache.ts';

/** Options of XdsDirectorySource. */
export interface DirectorySourceOptions {
  /** Quiet period before a reload (ms). */
  quietMs?: number;
  /** Longest delay of a reload during a steady burst (ms). */
  maxMs?: number;
  log?: (line: string) => void;
}

/** Outcome of one reload. */
export interface ReloadResult {
  /** Whether the cache now serves what the files say (false: some file or the whole set was rejected). */
  readonly ok: boolean;
  readonly errors: readonly string[];
}

const RESOURCE_FILE = /^[^.].*\.(ya?ml|json)$/i;

/** Feeds a SnapshotCache from a directory of resource files, reloading on change. */
export class XdsDirectorySource {
  private readonly dir: string;
  private readonly cache: SnapshotCache;
  private readonly log: (line: string) => void;
  private readonly debouncer: Debouncer;
  /** Last good parse of each file (kept when a new version of the file is invalid). */
  private readonly lastGood = new Map<string, XdsResource[]>();
  /** The text each lastGood entry was parsed from: an unchanged file is not parsed again (a reload reads every file). */
  private readonly lastGoodText = new Map<string, string>();
  private watcher: FSWatcher | undefined;
  private readonly reloadListeners = new Set<(r: ReloadResult) => void>();

  constructor(dir: string, cache: SnapshotCache, options: DirectorySourceOptions = {}) {
    this.dir = dir;
    this.cache = cache;
    this.log = options.log ?? ((line: string) => process.stderr.write(`weft: xds: ${line}\n`));
    const quiet = options.quietMs ?? 100;
    this.debouncer = new Debouncer(() => this.reload(), quiet, options.maxMs ?? Math.max(1000, quiet * 10));
  }

  /** Loads the directory once and starts watching it. Throws when DIR cannot be read. */
  start(): ReloadResult {
    readdirSync(this.dir); // fail fast on a missing directory
    const result = this.reload();
    this.watcher = watch(this.dir, { recursive: true }, () => this.debouncer.trigger());
    this.watcher.on('error', (e) => this.log(`watching ${this.dir}: ${e.message}`));
    return result;
  }

  /** Registers a listener for every reload's outcome (tests and logs). */
  onReload(listener: (r: ReloadResult) => void): () => void {
    this.reloadListeners.add(listener);
    return () => this.reloadListeners.delete(listener);
  }

  /** Reads every file now and applies the result to the cache. */
  reload(): ReloadResult {
    const errors: string[] = [];
    let defaults: XdsResource[] = [];
    const scoped = new Map<string, XdsResource[]>();
    const seen = new Set<string>();
    let entries;
    try {
      entries = readdirSync(this.dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name));
    } catch (e) {
      errors.push(`${this.dir}: ${(e as NodeJS.ErrnoException).code ?? String(e)}; keeping the previous configuration`);
      return this.finish({ ok: false, errors });
    }
    for (const e of entries) {
      const path = join(this.dir, e.name);
      if (e.isFile() && RESOURCE_FILE.test(e.name)) {
        defaults = defaults.concat(this.loadFile(path, errors, seen));
      } else if (e.isDirectory() && !e.name.startsWith('.')) {
        let files: string[] = [];
        try {
          files = readdirSync(path, { withFileTypes: true }).filter((f) => f.isFile() && RESOURCE_FILE.test(f.name)).map((f) => f.name).sort();
        } catch (err) {
          errors.push(`${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
        }
        scoped.set(e.name, files.flatMap((f) => this.loadFile(join(path, f), errors, seen)));
      }
    }
    for (const file of [...this.lastGood.keys()]) if (!seen.has(file)) { this.lastGood.delete(file); this.lastGoodText.delete(file); }
    const base = new Snapshot(warnDuplicates(defaults, 'the top directory', this.log));
    const overrides = new Map<string, Snapshot>();
    for (const [key, list] of scoped) overrides.set(key, base.extend(warnDuplicates(list, `${key}/`, this.log)));
    try {
      this.cache.setSnapshots(base, overrides);
    } catch (e) {
      if (!(e instanceof InconsistentSnapshotError)) throw e;
      errors.push(...e.problems.map((p) => `${p}; keeping the previous configuration`));
    }
    return this.finish({ ok: errors.length === 0, errors });
  }

  /** Stops watching. */
  close(): void {
    this.debouncer.cancel();
    this.watcher?.close();
    this.watcher = undefined;
  }

  private finish(result: ReloadResult): ReloadResult {
    for (const e of result.errors) this.log(e);
    for (const l of this.reloadListeners) l(result);
    return result;
  }

  /** The resources of one file; on error, logs it and returns the file's previous good resources. */
  private loadFile(path: string, errors: string[], seen: Set<string>): XdsResource[] {
    seen.add(path);
    const label = relative(this.dir, path);
    try {
      const text = readFileSync(path, 'utf8');
      const previous = this.lastGood.get(path);
      if (previous && this.lastGoodText.get(path) === text) return previous;
      const list = parseResourceFile(text, path.toLowerCase().endsWith('.json') ? 'json' : 'yaml', label);
      this.lastGood.set(path, list);
      this.lastGoodText.set(path, text);
      return list;
    } catch (e) {
      const message = e instanceof ConfigError ? (e.path.startsWith(label) ? e.message : `${label}: ${e.message}`) : `${label}: ${e instanceof Error ? e.message : String(e)}`;
      const previous = this.lastGood.get(path);
      errors.push(`${message}; ${previous ? 'keeping the previous version of the file' : 'file ignored'}`);
      return previous ?? [];
    }
  }
}

/**
 * Parses one resource file (Envoy's filesystem-subscription format). Errors are ConfigErrors whose path
 * names the field (`resources[1].virtual_hosts[0].domains`); `label` names the file in syntax errors.
 */
export function parseResourceFile(text: string, format: 'yaml' | 'json', label: string): XdsResource[] {
  let json: unknown;
  if (format === 'json') {
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw new ConfigError(label, `invalid JSON: ${e instanceof Error ? e.message : String(e)}`);
    }
  } else {
    const lineCounter = new LineCounter();
    const doc = parseDocument(text, { lineCounter, intAsBigInt: true, merge: true, uniqueKeys: true, prettyErrors: false });
    const err = doc.errors[0];
    if (err) {
      const { line, col } = lineCounter.linePos(err.pos[0]);
      throw new ConfigError(`${label}:${line}:${col}`, err.message);
    }
    json = doc.toJS({ maxAliasCount: 1000 });
  }
  if (json === null || json === undefined) return []; // an empty file defines nothing
  const response = parseMessageJson(DiscoveryResponseSchema, json, '');
  const out: XdsResource[] = [];
  const names = new Set<string>();
  response.resources.forEach((any, i) => {
    const r = makeResource(any, joinPath('resources', i));
    const key = `${r.typeUrl} ${r.name}`;
    if (names.has(key)) throw new ConfigError(joinPath('resources', i), `duplicate resource "${r.name}" of type ${r.typeUrl}`);
    names.add(key);
    out.push(r);
  });
  return out;
}

function warnDuplicates(list: XdsResource[], scope: string, log: (line: string) => void): XdsResource[] {
  const seen = new Set<string>();
  for (const r of list) {
    const key = `${r.typeUrl} ${r.name}`;
    if (seen.has(key)) log(`${scope}: resource "${r.name}" (${r.typeUrl}) is defined in more than one file; the last file (by name) wins`);
    seen.add(key);
  }
  return list;
}
