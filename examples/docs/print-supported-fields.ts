/**
 * Prints the supported-field reference of docs/configuration.md (Markdown) from the `declareSupported`
 * lists: every message type reachable from the Bootstrap, or registered for `@type`, that some compile
 * module declares. Regenerate after changing a declaration:
 *   npx node examples/docs/print-supported-fields.ts
 * and paste the output between the `supported-fields` markers of docs/configuration.md.
 */
import type { DescMessage } from '@bufbuild/protobuf';
import '../../src/proxy/bootstrap.ts';
import '../../src/proxy/proxy.ts';
import { supportedFields } from '../../src/xds/supported.ts';
import { xdsRegistry } from '../../src/xds/registry.ts';
import { BootstrapSchema } from '../../src/xds/gen/envoy/config/bootstrap/v3/bootstrap_pb.js';

/** Sections of the reference, first match wins. */
const GROUPS: readonly (readonly [title: string, test: (typeName: string) => boolean])[] = [
  ['Bootstrap', (t) => t.startsWith('envoy.config.bootstrap.') || t === 'envoy.config.core.v3.Node'],
  ['Listeners', (t) => t.startsWith('envoy.config.listener.') || t.startsWith('envoy.extensions.filters.listener.') || t === 'envoy.config.core.v3.Address' || t === 'envoy.config.core.v3.SocketAddress' || t === 'envoy.config.core.v3.CidrRange'],
  ['TLS', (t) => t.startsWith('envoy.extensions.transport_sockets.') || t === 'envoy.config.core.v3.TransportSocket'],
  ['TCP proxy', (t) => t.startsWith('envoy.extensions.filters.network.tcp_proxy.')],
  ['HTTP connection manager', (t) => t.startsWith('envoy.extensions.filters.') || t === 'envoy.config.core.v3.HttpProtocolOptions'],
  ['Routes', (t) => t.startsWith('envoy.config.route.')],
  ['Load balancing', (t) => /LbConfig|LoadBalancingPolicy|load_balancing_policies|TypedStruct|TypedExtensionConfig|RuntimeDouble/.test(t)],
  ['Clusters and endpoints', (t) => t.startsWith('envoy.config.cluster.') || t.startsWith('envoy.config.endpoint.') || t.startsWith('envoy.extensions.upstreams.') || /Http[12]ProtocolOptions$/.test(t) || t === 'envoy.config.core.v3.Locality'],
  ['Access logs', (t) => t.startsWith('envoy.config.accesslog.') || t.startsWith('envoy.extensions.access_loggers.') || /SubstitutionFormatString|JsonFormatOptions|RuntimeUInt32/.test(t)],
  ['Matchers and common types', () => true],
];

/** Every message type reachable from `root` through message fields. */
function collect(root: DescMessage, into: Map<string, DescMessage>): void {
  if (into.has(root.typeName)) return;
  into.set(root.typeName, root);
  for (const f of root.fields) if (f.message !== undefined) collect(f.message, into);
}

const types = new Map<string, DescMessage>();
collect(BootstrapSchema, types);
for (const t of xdsRegistry) if (t.kind === 'message') collect(t, types);

const sections = new Map<string, string[]>(GROUPS.map(([title]) => [title, []]));
for (const name of [...types.keys()].sort()) {
  const supported = supportedFields(name);
  if (supported === undefined) continue;
  const fields = types.get(name)!.fields.map((f) => f.name).filter((f) => supported.has(f));
  const cell = fields.length === 0 ? '*(no fields: `{}` only)*' : fields.map((f) => `\`${f}\``).join(', ');
  const title = GROUPS.find(([, test]) => test(name))![0];
  sections.get(title)!.push(`| \`${name}\` | ${cell} |`);
}

let out = '';
for (const [title, rows] of sections) {
  if (rows.length === 0) continue;
  out += `### ${title}\n\n| Message | Supported fields |\n|---|---|\n${rows.join('\n')}\n\n`;
}
process.stdout.write(out);
