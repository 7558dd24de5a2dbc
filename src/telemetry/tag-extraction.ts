import type { StatTag, StatTags } from './stats.ts';
import { TagName } from './tag-names.ts';

/**
 * Envoy's default tag extraction: turns `http.ingress.downstream_rq_2xx` into the tag-extracted name
 * `http.downstream_rq_xx` plus tags `envoy.response_code_class=2`, `envoy.http_conn_manager_prefix=ingress`.
 *
 * As in Envoy, every extractor's regex runs against the same name; capture group 1 is removed from the
 * name and group 2 (or 1 when there is no group 2) is the tag value. Tags come out in extractor order,
 * which is the label order Envoy's /stats/prometheus shows. Runs once per metric, never per request.
 */

/** A metric's tag-extracted name and its tags in Envoy's order. */
export interface ExtractedTags {
  readonly name: string;
  readonly tags: readonly StatTag[];
}

interface Extractor {
  readonly tag: string;
  readonly regex: RegExp;
  /** Cheap pre-check: the regex can only match names containing this ('' = always try). */
  readonly substr: string;
}

function ex(tag: string, source: string, substr = ''): Extractor {
  return { tag, regex: new RegExp(source, 'd'), substr };
}

/** Envoy's list (source/common/config/well_known_names.cc) without the DynamoDB and Mongo filters, which Weft does not have. */
const EXTRACTORS: readonly Extractor[] = [
  // *_rq(_<response_code>)
  ex(TagName.ResponseCode, String.raw`_rq(_(\d{3}))$`, '_rq_'),
  // *_rq_(<response_code_class>)xx
  ex(TagName.ResponseCodeClass, String.raw`_rq_(\d)xx$`, '_rq_'),
  // cluster.[<route_target_cluster>.]grpc.[<grpc_service>.](<grpc_method>.)<base_stat>
  ex(TagName.GrpcBridgeMethod, String.raw`^cluster(?=\.).*?\.grpc(?=\.).*\.((.*?)\.)\w+?$`, '.grpc.'),
  // http.[<stat_prefix>.]user_agent.(<user_agent>.)<base_stat>
  ex(TagName.HttpUserAgent, String.raw`^http(?=\.).*?\.user_agent\.((.*?)\.)\w+?$`, '.user_agent.'),
  // vhost.[<virtual host name>.]vcluster.(<virtual_cluster_name>.)<base_stat>
  ex(TagName.VirtualCluster, String.raw`^vhost(?=\.).*?\.vcluster\.((.*?)\.)\w+?$`, '.vcluster.'),
  // http.[<stat_prefix>.]fault.(<downstream_cluster>.)<base_stat>
  ex(TagName.FaultDownstreamCluster, String.raw`^http(?=\.).*?\.fault\.((.*?)\.)\w+?$`, '.fault.'),
  // listener.[<address>.]ssl.cipher.(<cipher>)
  ex(TagName.SslCipher, String.raw`^listener(?=\.).*?\.ssl\.cipher(\.(.*?))$`),
  // cluster.[<cluster_name>.]ssl.ciphers.(<cipher>)
  ex(TagName.SslCipherSuite, String.raw`^cluster(?=\.).*?\.ssl\.ciphers(\.(.*?))$`, '.ssl.ciphers.'),
  // cluster.[<route_target_cluster>.]grpc.(<grpc_service>.)*
  ex(TagName.GrpcBridgeService, String.raw`^cluster(?=\.).*?\.grpc\.((.*?)\.)`, '.grpc.'),
  // tcp.(<stat_prefix>.)<base_stat>
  ex(TagName.TcpPrefix, String.raw`^tcp\.((.*?)\.)\w+?$`),
  // udp.(<stat_prefix>.)<base_stat>
  ex(TagName.UdpPrefix, String.raw`^udp\.((.*?)\.)\w+?$`),
  // auth.clientssl.(<stat_prefix>.)<base_stat>
  ex(TagName.ClientSslPrefix, String.raw`^auth\.clientssl\.((.*?)\.)\w+?$`),
  // ratelimit.(<stat_prefix>.)<base_stat>
  ex(TagName.RatelimitPrefix, String.raw`^ratelimit\.((.*?)\.)\w+?$`),
  // cluster.(<cluster_name>.)*
  ex(TagName.ClusterName, String.raw`^cluster\.(([^\.]+)\.).*`),
  // listener.[<address>.]http.(<stat_prefix>.)*
  ex(TagName.HttpConnManagerPrefix, String.raw`^listener(?=\.).*?\.http\.((.*?)\.)`, '.http.'),
  // http.(<stat_prefix>.)*
  ex(TagName.HttpConnManagerPrefix, String.raw`^http\.((.*?)\.)`),
  // listener.(<address>.)*
  ex(TagName.ListenerAddress, String.raw`^listener\.(((?:[_.\d]*|[_\[\]aAbBcCdDeEfF\d]*))\.)`),
  // vhost.(<virtual host name>.)*
  ex(TagName.VirtualHost, String.raw`^vhost\.((.*?)\.)`),
  // http.[<stat_prefix>.]rds.(<route_config_name>.)<base_stat>
  ex(TagName.RdsRouteConfig, String.raw`^http(?=\.).*?\.rds\.((.*?)\.)\w+?$`, '.rds.'),
  // listener_manager.(worker_<id>.)*
  ex(TagName.WorkerId, String.raw`^listener_manager\.((worker_\d+)\.)`, 'listener_manager.worker_'),
];

/** Tag name → position in Envoy's extractor order (label order). */
const ORDER = new Map<string, number>();
for (const e of EXTRACTORS) if (!ORDER.has(e.tag)) ORDER.set(e.tag, ORDER.size);

/**
 * Tags of a metric. With `known` (tags given when the metric was named), extraction runs on the
 * already-extracted name and skips the tags it names, so a dotted cluster name is never split.
 */
export function extractTags(name: string, known: StatTags | null = null): ExtractedTags {
  const subject = known ? known.extractedName : name;
  const skip = known ? new Set(known.tags.map((t) => t[0])) : null;
  const found: StatTag[] = known ? [...known.tags] : [];
  // Ranges [start, end) of `subject` to cut out, from every extractor that matched.
  const cuts: [number, number][] = [];
  const seen = new Set<string>();
  for (const e of EXTRACTORS) {
    if (skip?.has(e.tag) || seen.has(e.tag)) continue;
    if (e.substr && !subject.includes(e.substr)) continue;
    const m = e.regex.exec(subject);
    if (!m || !m.indices) continue;
    const remove = m.indices[1];
    const valueIdx = m.length > 2 && m.indices[2] ? 2 : 1;
    if (!remove) continue;
    cuts.push([remove[0], remove[1]]);
    found.push([e.tag, m[valueIdx] ?? '']);
    seen.add(e.tag);
  }
  return { name: cut(subject, cuts), tags: sortTags(found) };
}

/** `s` without the given (possibly overlapping) ranges. */
function cut(s: string, ranges: [number, number][]): string {
  if (ranges.length === 0) return s;
  ranges.sort((a, b) => a[0] - b[0]);
  let out = '';
  let pos = 0;
  for (const [start, end] of ranges) {
    if (start > pos) out += s.slice(pos, start);
    if (end > pos) pos = end;
  }
  return out + s.slice(pos);
}

/** Envoy's label order: by extractor position; tags Envoy does not know keep their given order, last. */
function sortTags(tags: StatTag[]): StatTag[] {
  const rank = (t: StatTag): number => ORDER.get(t[0]) ?? ORDER.size;
  return tags
    .map((t, i) => ({ t, i }))
    .sort((a, b) => rank(a.t) - rank(b.t) || a.i - b.i)
    .map((x) => x.t);
}
