/**
 * What the proxy's dynamic managers need from the ADS client: the type URLs they watch and a way to
 * change what is subscribed (AdsClient implements it; tests may drive the managers' watchers directly).
 */

/** The xDS type URLs of the resources the proxy consumes. */
export const TYPE_LISTENER = 'type.googleapis.com/envoy.config.listener.v3.Listener';
export const TYPE_ROUTE = 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration';
export const TYPE_CLUSTER = 'type.googleapis.com/envoy.config.cluster.v3.Cluster';
export const TYPE_ENDPOINT = 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment';

/** Sets the resource names of a type the proxy wants ('*' = wildcard, for LDS and CDS). */
export interface Subscriptions {
  subscribe(typeUrl: string, names: readonly string[] | '*'): void;
}

/** The message of a rejected update: `<kind> "<name>": <field path>: <detail>`. */
export function rejection(kind: string, name: string, e: unknown): string {
  return `${kind} "${name}": ${e instanceof Error ? e.message : String(e)}`;
}

/** Sorted names, so an unchanged interest is recognised and not re-sent. */
export function sortedNames(names: Iterable<string>): string[] {
  return [...new Set(names)].sort();
}

/** True when two sorted name lists are equal. */
export function sameNames(a: readonly string[] | null, b: readonly string[]): boolean {
  if (a === null || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
