/**
 * Loads an Envoy v3 bootstrap file (YAML or JSON) into a typed `Bootstrap` message.
 *
 * Syntax errors name `file:line:column`; duplicate keys are errors (a silently dropped duplicate is a
 * config bug waiting to happen). Field errors come from parseMessageJson with the proto field path, and we
 * add where in the file that field is written. Whether the fields are *implemented* is checked later, by
 * checkSupported, once every compile module has declared what it supports.
 */
import { readFileSync } from 'node:fs';
import { LineCounter, isAlias, isMap, isScalar, isSeq, parseDocument, type Document, type Node } from 'yaml';
import { ConfigError } from '../xds/config-error.ts';
import { parseMessageJson } from '../xds/json.ts';
import { declareSupported } from '../xds/supported.ts';
import { BootstrapSchema, type Bootstrap } from '../xds/gen/envoy/config/bootstrap/v3/bootstrap_pb.js';

// What the bootstrap itself brings. Listener, Cluster, Address, … are declared by the modules compiling them;
// `dynamic_resources` (ADS) by src/proxy/dynamic/dynamic-resources.ts.
declareSupported('envoy.config.bootstrap.v3.Bootstrap', ['node', 'static_resources', 'admin']);
declareSupported('envoy.config.bootstrap.v3.Bootstrap.StaticResources', ['listeners', 'clusters', 'secrets']);
declareSupported('envoy.config.bootstrap.v3.Admin', ['address']);
declareSupported('envoy.config.core.v3.Node', ['id', 'cluster', 'metadata', 'locality']);
declareSupported('envoy.config.core.v3.Locality', ['region', 'zone', 'sub_zone']);

/** Reads and parses a bootstrap file: `.json` as JSON, anything else as YAML. Throws ConfigError. */
export function loadBootstrapFile(file: string): Bootstrap {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? String(e);
    throw new ConfigError(file, `cannot read bootstrap file (${code})`);
  }
  return parseBootstrapText(text, file.endsWith('.json') ? 'json' : 'yaml', file);
}

/** Parses bootstrap text; `fileName` only labels error messages. Throws ConfigError. */
export function parseBootstrapText(text: string, format: 'yaml' | 'json', fileName: string): Bootstrap {
  const json = format === 'json' ? parseJsonText(text, fileName) : parseYamlText(text, fileName);
  if (json === null || json === undefined) throw new ConfigError(fileName, 'the bootstrap is empty');
  try {
    return parseMessageJson(BootstrapSchema, json, '');
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    const where = locate(text, e.path);
    throw where ? new ConfigError(e.path, `${e.detail} (${fileName}:${where.line}:${where.col})`) : e;
  }
}

// --- YAML ---

function parseYamlText(text: string, fileName: string): unknown {
  const lineCounter = new LineCounter();
  // intAsBigInt keeps 64-bit integers exact; parseMessageJson takes bigints. `<<` merge keys are common in
  // hand-written Envoy YAML, so they are honoured.
  const doc = parseDocument(text, { lineCounter, intAsBigInt: true, merge: true, uniqueKeys: true, prettyErrors: false });
  const err = doc.errors[0];
  if (err) {
    const { line, col } = lineCounter.linePos(err.pos[0]);
    const detail = err.code === 'DUPLICATE_KEY' ? `duplicate key ${keyAt(text, err.pos[0])}` : err.message;
    throw new ConfigError(`${fileName}:${line}:${col}`, detail);
  }
  try {
    return doc.toJS({ maxAliasCount: 1000 });
  } catch (e) {
    throw new ConfigError(fileName, e instanceof Error ? e.message : String(e));
  }
}

/** The key written at `offset` (quoted as in the file), for duplicate-key messages. */
function keyAt(text: string, offset: number): string {
  const m = /^("(?:[^"\\\n]|\\.)*"|'(?:[^'\n]|'')*'|[^:#\n]+?)\s*:/.exec(text.slice(offset, offset + 200));
  if (!m) return 'in a mapping';
  return m[1].startsWith('"') || m[1].startsWith("'") ? m[1] : `"${m[1]}"`;
}

// --- JSON ---

/**
 * JSON.parse does the work, but V8's messages carry no position and it keeps the last of duplicate keys,
 * so a small scanner checks the text first. Integers beyond 2^53 are kept exact as bigint.
 */
function parseJsonText(text: string, fileName: string): unknown {
  const problem = new JsonScanner(text).check();
  if (problem) {
    const { line, col } = lineCol(text, problem.offset);
    throw new ConfigError(`${fileName}:${line}:${col}`, problem.message);
  }
  return JSON.parse(text, (_key, value: unknown, context?: { source?: string }) =>
    typeof value === 'number' && !Number.isSafeInteger(value) && context?.source && /^-?[0-9]+$/.test(context.source)
      ? BigInt(context.source) : value);
}

interface JsonProblem { readonly offset: number; readonly message: string }

/** A strict JSON (RFC 8259) validator that reports the offset of the first error and duplicate keys. */
class JsonScanner {
  private readonly text: string;
  private i = 0;
  private problem: JsonProblem | undefined;

  constructor(text: string) {
    this.text = text;
  }

  check(): JsonProblem | undefined {
    this.ws();
    if (this.value()) {
      this.ws();
      if (this.i < this.text.length) this.fail('unexpected text after the JSON value');
    }
    return this.problem;
  }

  private fail(message: string, offset = this.i): false {
    this.problem ??= { offset, message };
    return false;
  }

  private ws(): void {
    const t = this.text;
    while (this.i < t.length) {
      const c = t.charCodeAt(this.i);
      if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
      this.i++;
    }
  }

  private value(): boolean {
    const c = this.text[this.i];
    switch (c) {
      case '{': return this.object();
      case '[': return this.array();
      case '"': return this.string() !== undefined;
      case 't': return this.literal('true');
      case 'f': return this.literal('false');
      case 'n': return this.literal('null');
      case undefined: return this.fail('unexpected end of input');
      default:
        if (c === '-' || (c >= '0' && c <= '9')) return this.number();
        return this.fail(`unexpected character ${JSON.stringify(c)}`);
    }
  }

  private object(): boolean {
    this.i++; // {
    this.ws();
    if (this.text[this.i] === '}') { this.i++; return true; }
    const keys = new Set<string>();
    for (;;) {
      this.ws();
      const keyOffset = this.i;
      if (this.text[this.i] !== '"') return this.fail(this.i < this.text.length ? 'expected a quoted key' : 'unexpected end of input');
      const key = this.string();
      if (key === undefined) return false;
      if (keys.has(key)) return this.fail(`duplicate key ${JSON.stringify(key)}`, keyOffset);
      keys.add(key);
      this.ws();
      if (this.text[this.i] !== ':') return this.fail("expected ':' after a key");
      this.i++;
      this.ws();
      if (!this.value()) return false;
      this.ws();
      const c = this.text[this.i];
      if (c === ',') { this.i++; continue; }
      if (c === '}') { this.i++; return true; }
      return this.fail(c === undefined ? 'unexpected end of input' : "expected ',' or '}'");
    }
  }

  private array(): boolean {
    this.i++; // [
    this.ws();
    if (this.text[this.i] === ']') { this.i++; return true; }
    for (;;) {
      this.ws();
      if (!this.value()) return false;
      this.ws();
      const c = this.text[this.i];
      if (c === ',') { this.i++; continue; }
      if (c === ']') { this.i++; return true; }
      return this.fail(c === undefined ? 'unexpected end of input' : "expected ',' or ']'");
    }
  }

  /** Scans a string token and returns its value, or undefined after recording a problem. */
  private string(): string | undefined {
    const start = this.i++;
    const t = this.text;
    let escaped = false;
    while (this.i < t.length) {
      const c = t.charCodeAt(this.i);
      if (c === 0x22) {
        this.i++;
        const raw = t.slice(start, this.i);
        return escaped ? JSON.parse(raw) as string : raw.slice(1, -1);
      }
      if (c < 0x20) { this.fail('control character in string (escape it)'); return undefined; }
      if (c === 0x5c) {
        escaped = true;
        const e = t[this.i + 1];
        if (e === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(t.slice(this.i + 2, this.i + 6))) { this.fail('invalid \\u escape'); return undefined; }
          this.i += 6;
          continue;
        }
        if (e === undefined || !'"\\/bfnrt'.includes(e)) { this.fail('invalid escape in string'); return undefined; }
        this.i += 2;
        continue;
      }
      this.i++;
    }
    this.fail('unterminated string', start);
    return undefined;
  }

  private number(): boolean {
    const re = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
    re.lastIndex = this.i;
    const m = re.exec(this.text);
    if (!m) return this.fail('invalid number');
    this.i += m[0].length;
    return true;
  }

  private literal(word: string): boolean {
    if (!this.text.startsWith(word, this.i)) return this.fail(`unexpected character ${JSON.stringify(this.text[this.i])}`);
    this.i += word.length;
    return true;
  }
}

function lineCol(text: string, offset: number): { line: number; col: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 0x0a) { line++; lineStart = i + 1; }
  }
  return { line, col: offset - lineStart + 1 };
}

// --- where a field path is written ---

const PATH_SEGMENT = /\.?([^.[\]]+)|\[([0-9]+)\]|\[("(?:[^"\\]|\\.)*")\]/gy;

/**
 * Finds the line and column where `path` (`static_resources.clusters[0].connect_timeout`) is written, or the
 * deepest part of it that is. JSON is YAML, so one walker serves both formats. Error path only: it reparses.
 */
/** Where the field at `path` (proto field path) is written in YAML or JSON `text`, if it can be found. */
export function locate(text: string, path: string): { line: number; col: number } | undefined {
  if (!path) return undefined;
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, merge: true, uniqueKeys: false });
  let node: unknown = doc.contents;
  let offset: number | undefined;
  PATH_SEGMENT.lastIndex = 0;
  for (let m = PATH_SEGMENT.exec(path); m; m = PATH_SEGMENT.exec(path)) {
    node = deref(doc, node);
    if (m[2] !== undefined) {
      if (!isSeq(node)) break;
      const item: unknown = node.items[Number(m[2])];
      const start = rangeStart(item);
      if (start === undefined) break;
      offset = start;
      node = item;
    } else {
      if (!isMap(node)) break;
      const name = m[1] ?? (JSON.parse(m[3]) as string);
      const camel = name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
      const pair = node.items.find((p) => isScalar(p.key) && (String(p.key.value) === name || String(p.key.value) === camel));
      if (!pair) break;
      const start = rangeStart(pair.key);
      if (start !== undefined) offset = start;
      node = pair.value;
    }
  }
  return offset === undefined ? undefined : lineCounter.linePos(offset);
}

function deref(doc: Document, node: unknown): unknown {
  return isAlias(node) ? node.resolve(doc) : node;
}

function rangeStart(node: unknown): number | undefined {
  return node && typeof node === 'object' && 'range' in node ? (node as Node).range?.[0] : undefined;
}
