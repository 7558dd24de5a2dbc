/**
 * The rate-limit service's configuration: the YAML format of Envoy's reference service
 * (github.com/envoyproxy/ratelimit): one `domain` per file, a tree of `descriptors` (`key`, optional `value`,
 * optional `rate_limit { unit, requests_per_unit | unlimited, name }`, `shadow_mode`, `detailed_metric`,
 * nested `descriptors`). Parsed and validated once into an immutable tree; lookups follow the reference
 * service's rules (see `findLimit`).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import { UNIT_SECONDS } from './units.ts';

/** A configuration problem, with the file and the path to the offending field (`descriptors[1].rate_limit.unit`). */
export class RateLimitConfigError extends Error {
  readonly file: string;
  readonly path: string;
  constructor(file: string, path: string, detail: string) {
    super(path === '' ? `${file}: ${detail}` : `${file}: ${path}: ${detail}`);
    this.name = 'RateLimitConfigError';
    this.file = file;
    this.path = path;
  }
}

/** One configured limit. */
export interface RateLimitRule {
  /** `domain.key_value.key2` — the stat key of this limit. */
  readonly fullKey: string;
  /** `unit` in lower case; '' for unlimited. */
  readonly unit: string;
  /** Window length in seconds (0 for unlimited). */
  readonly unitSeconds: number;
  readonly requestsPerUnit: number;
  readonly unlimited: boolean;
  /** Over-limit requests are reported OK (counted, not refused). */
  readonly shadowMode: boolean;
  /** Optional `name`, echoed in the response's current_limit. */
  readonly name: string;
}

/** A node of the descriptor tree: children by `key_value` and by `key` (the default for any value). */
export interface DescriptorNode {
  readonly children: ReadonlyMap<string, DescriptorNode>;
  /** Keys ending in `*` (value prefixes), checked after an exact `key_value` miss. */
  readonly wildcards: readonly string[];
  readonly limit: RateLimitRule | null;
}

/** The whole configuration: descriptor trees by domain. */
export interface RateLimitServiceConfig {
  readonly domains: ReadonlyMap<string, DescriptorNode>;
  /** The files it came from (for the debug page). */
  readonly files: readonly string[];
}

const ROOT_KEYS = new Set(['domain', 'descriptors']);
const DESCRIPTOR_KEYS = new Set(['key', 'value', 'rate_limit', 'descriptors', 'shadow_mode', 'detailed_metric']);
const LIMIT_KEYS = new Set(['unit', 'requests_per_unit', 'unlimited', 'name', 'replaces']);

function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function join2(path: string, part: string | number): string {
  return typeof part === 'number' ? `${path}[${part}]` : path === '' ? part : `${path}.${part}`;
}

function checkKeys(file: string, path: string, m: Record<string, unknown>, allowed: ReadonlySet<string>): void {
  for (const k of Object.keys(m)) {
    if (!allowed.has(k)) throw new RateLimitConfigError(file, join2(path, k), 'unknown field');
  }
}

function str(file: string, path: string, v: unknown): string {
  if (v === undefined || v === null) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  throw new RateLimitConfigError(file, path, 'must be a string');
}

function bool(file: string, path: string, v: unknown): boolean {
  if (v === undefined || v === null) return false;
  if (typeof v !== 'boolean') throw new RateLimitConfigError(file, path, 'must be true or false');
  return v;
}

function compileLimit(file: string, path: string, v: unknown, fullKey: string, shadowMode: boolean): RateLimitRule {
  if (!isMap(v)) throw new RateLimitConfigError(file, path, 'must be a map');
  checkKeys(file, path, v, LIMIT_KEYS);
  const unlimited = bool(file, join2(path, 'unlimited'), v.unlimited);
  const name = str(file, join2(path, 'name'), v.name);
  if (v.replaces !== undefined) throw new RateLimitConfigError(file, join2(path, 'replaces'), 'not supported by Weft');
  if (unlimited) {
    if (v.unit !== undefined) throw new RateLimitConfigError(file, join2(path, 'unit'), 'must not be set when unlimited');
    if (v.requests_per_unit !== undefined) throw new RateLimitConfigError(file, join2(path, 'requests_per_unit'), 'must not be set when unlimited');
    return Object.freeze({ fullKey, unit: '', unitSeconds: 0, requestsPerUnit: 0, unlimited: true, shadowMode, name });
  }
  const unit = str(file, join2(path, 'unit'), v.unit).toLowerCase();
  if (unit === '') throw new RateLimitConfigError(file, join2(path, 'unit'), 'required (second, minute, hour, day, month or year)');
  const seconds = UNIT_SECONDS.get(unit);
  if (seconds === undefined) throw new RateLimitConfigError(file, join2(path, 'unit'), `invalid unit "${String(v.unit)}" (second, minute, hour, day, month or year)`);
  const rpu = v.requests_per_unit;
  if (rpu === undefined || rpu === null) throw new RateLimitConfigError(file, join2(path, 'requests_per_unit'), 'required');
  if (typeof rpu !== 'number' || !Number.isInteger(rpu) || rpu < 0 || rpu > 0xffffffff) {
    throw new RateLimitConfigError(file, join2(path, 'requests_per_unit'), 'must be an integer from 0 to 4294967295');
  }
  return Object.freeze({ fullKey, unit, unitSeconds: seconds, requestsPerUnit: rpu, unlimited: false, shadowMode, name });
}

function compileDescriptors(file: string, path: string, v: unknown, parentKey: string): DescriptorNode['children'] {
  const children = new Map<string, DescriptorNode>();
  if (v === undefined || v === null) return children;
  if (!Array.isArray(v)) throw new RateLimitConfigError(file, path, 'must be a list');
  v.forEach((d: unknown, i) => {
    const p = join2(path, i);
    if (!isMap(d)) throw new RateLimitConfigError(file, p, 'must be a map');
    checkKeys(file, p, d, DESCRIPTOR_KEYS);
    const key = str(file, join2(p, 'key'), d.key);
    if (key === '') throw new RateLimitConfigError(file, join2(p, 'key'), 'required');
    const value = str(file, join2(p, 'value'), d.value);
    const finalKey = value === '' ? key : `${key}_${value}`;
    const fullKey = `${parentKey}.${finalKey}`;
    if (children.has(finalKey)) throw new RateLimitConfigError(file, p, `duplicate descriptor composite key "${fullKey}"`);
    const shadow = bool(file, join2(p, 'shadow_mode'), d.shadow_mode);
    bool(file, join2(p, 'detailed_metric'), d.detailed_metric);
    const limit = d.rate_limit === undefined || d.rate_limit === null ? null : compileLimit(file, join2(p, 'rate_limit'), d.rate_limit, fullKey, shadow);
    const sub = compileDescriptors(file, join2(p, 'descriptors'), d.descriptors, fullKey);
    children.set(finalKey, freezeNode(sub, limit));
  });
  return children;
}

function freezeNode(children: ReadonlyMap<string, DescriptorNode>, limit: RateLimitRule | null): DescriptorNode {
  const wildcards = [...children.keys()].filter((k) => k.endsWith('*'));
  return Object.freeze({ children, wildcards: Object.freeze(wildcards), limit });
}

/** Parses one YAML document (the text of `file`) into its domain and descriptor tree; throws RateLimitConfigError. */
export function parseDomainConfig(text: string, file: string): { domain: string; root: DescriptorNode } {
  const doc = parseDocument(text, { uniqueKeys: true });
  if (doc.errors.length > 0) throw new RateLimitConfigError(file, '', `bad YAML: ${doc.errors[0].message.split('\n')[0].replace(/:$/, '')}`);
  const v: unknown = doc.toJS();
  if (!isMap(v)) throw new RateLimitConfigError(file, '', 'must be a map with domain and descriptors');
  checkKeys(file, '', v, ROOT_KEYS);
  const domain = str(file, 'domain', v.domain);
  if (domain === '') throw new RateLimitConfigError(file, 'domain', 'required');
  return { domain, root: freezeNode(compileDescriptors(file, 'descriptors', v.descriptors, domain), null) };
}

/** The YAML files a `--config` names: the file itself, or every *.yaml / *.yml in the directory (sorted). */
export function configFiles(pathArg: string): string[] {
  const st = statSync(pathArg);
  if (!st.isDirectory()) return [pathArg];
  return readdirSync(pathArg).filter((n) => /\.ya?ml$/.test(n) && !n.startsWith('.')).sort().map((n) => join(pathArg, n));
}

/** Loads and validates every file of `pathArg`; a domain may appear in one file only. Throws RateLimitConfigError. */
export function loadRateLimitConfig(pathArg: string): RateLimitServiceConfig {
  let files: string[];
  try { files = configFiles(pathArg); } catch (e) {
    throw new RateLimitConfigError(pathArg, '', `cannot read: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  const domains = new Map<string, DescriptorNode>();
  const owner = new Map<string, string>();
  for (const file of files) {
    let text: string;
    try { text = readFileSync(file, 'utf8'); } catch (e) {
      throw new RateLimitConfigError(file, '', `cannot read: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
    }
    const { domain, root } = parseDomainConfig(text, file);
    const prev = owner.get(domain);
    if (prev !== undefined) throw new RateLimitConfigError(file, 'domain', `duplicate domain "${domain}" (also in ${prev})`);
    owner.set(domain, file);
    domains.set(domain, root);
  }
  return Object.freeze({ domains, files: Object.freeze(files) });
}

/** One descriptor entry of a request. */
export interface Entry { readonly key: string; readonly value: string }

/**
 * The limit for one request descriptor, by the reference service's rules: walk the entries, at each level
 * preferring the exact `key_value`, then a `key_value*` prefix, then the bare `key` (the default for any
 * value); the limit applies only if the node matched by the *last* entry has one. Null: no limit (OK).
 */
export function findLimit(config: RateLimitServiceConfig, domain: string, entries: readonly Entry[]): RateLimitRule | null {
  const root = config.domains.get(domain);
  if (root === undefined) return null;
  let node: DescriptorNode = root;
  let limit: RateLimitRule | null = null;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i];
    const kv = `${e.key}_${e.value}`;
    let next: DescriptorNode | undefined = node.children.get(kv);
    if (next === undefined) {
      for (const w of node.wildcards) {
        if (kv.startsWith(w.slice(0, -1))) { next = node.children.get(w); break; }
      }
    }
    if (next === undefined) next = node.children.get(e.key);
    if (next === undefined) return null;
    if (i === entries.length - 1) limit = next.limit;
    node = next;
  }
  return limit;
}

/** A readable dump of every limit (the debug server's /rlconfig, as the reference service prints it). */
export function dumpConfig(config: RateLimitServiceConfig): string {
  const lines: string[] = [];
  const walk = (n: DescriptorNode): void => {
    if (n.limit !== null) {
      const l = n.limit;
      lines.push(l.unlimited ? `${l.fullKey}: unlimited, shadow_mode: ${l.shadowMode}` : `${l.fullKey}: unit=${l.unit.toUpperCase()} requests_per_unit=${l.requestsPerUnit}, shadow_mode: ${l.shadowMode}`);
    }
    for (const c of n.children.values()) walk(c);
  };
  for (const root of config.domains.values()) walk(root);
  return lines.join('\n') + (lines.length > 0 ? '\n' : '');
}
