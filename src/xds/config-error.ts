/**
 * A configuration error: what is wrong and where. `path` is the field path in the user's terms
 * (`static_resources.clusters[1].load_assignment.endpoints[0]`), as Envoy reports it.
 */
export class ConfigError extends Error {
  readonly code = 'WEFT_CONFIG_INVALID';
  readonly path: string;
  readonly detail: string;
  constructor(path: string, detail: string) {
    super(path ? `${path}: ${detail}` : detail);
    this.name = 'ConfigError';
    this.path = path;
    this.detail = detail;
  }
}

/** Joins a field path: `join('a.b', 'c')` → `a.b.c`, `join('a', '[2]')` → `a[2]`. */
export function joinPath(base: string, part: string | number): string {
  if (typeof part === 'number') return `${base}[${part}]`;
  if (part.startsWith('[')) return base + part;
  return base ? `${base}.${part}` : part;
}
