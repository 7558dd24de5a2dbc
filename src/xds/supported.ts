/**
 * Which fields of each xDS message Weft implements. Envoy rejects what it does not understand, and so do
 * we: a field that is set but not declared here is a ConfigError naming its path, never silently ignored.
 *
 * Each part of the proxy declares the fields it compiles, next to the code that compiles them
 * (`declareSupported('envoy.config.route.v3.RouteMatch', ['prefix', 'path', …])`).
 * Message types with no declaration are rejected whole when set (except well-known types).
 */
const supported = new Map<string, Set<string>>();

/** Declares that Weft implements these proto field names (snake_case) of `typeName`. Adds to earlier declarations. */
export function declareSupported(typeName: string, fields: readonly string[]): void {
  let s = supported.get(typeName);
  if (!s) { s = new Set(); supported.set(typeName, s); }
  for (const f of fields) s.add(f);
}

/** The supported field names of a message type, or undefined when none are declared. */
export function supportedFields(typeName: string): ReadonlySet<string> | undefined {
  return supported.get(typeName);
}
