/**
 * Configurations of `bench:resilience`: Weft bootstraps (Envoy v3, the same files would run under Envoy)
 * for the bare router and for the router behind the resilience filters, and an nginx with three upstream
 * endpoints of which one answers a share of requests with 503.
 */
import { nginxCommonConfig, type NginxInstance } from './nginx-conf.ts';

/** What one Weft bootstrap of the benchmark enables. */
export interface ResilienceBootstrapOptions {
  listenerPort: number;
  adminPort: number;
  /** Upstream endpoints (loopback ports), one cluster `upstream`, round robin. */
  endpointPorts: readonly number[];
  /** local_ratelimit (bucket far above the load) + fault (0 % abort and delay) before the router. */
  filters: boolean;
  /** Route retry_policy: 5xx/reset/connect-failure, 2 retries, on another host (previous_hosts). */
  retries: boolean;
  /** Cluster outlier_detection: consecutive_5xx 3, interval 1 s, base ejection 10 s, at most 34 % ejected. */
  outlierDetection: boolean;
}

const FILTERS = `
          - name: envoy.filters.http.local_ratelimit
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit
              stat_prefix: bench_rl
              token_bucket: { max_tokens: 1000000000, tokens_per_fill: 1000000000, fill_interval: 1s }
              filter_enabled: { default_value: { numerator: 100 } }
              filter_enforced: { default_value: { numerator: 100 } }
          - name: envoy.filters.http.fault
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault
              abort: { http_status: 503, percentage: { numerator: 0 } }
              delay: { fixed_delay: 1s, percentage: { numerator: 0 } }`;

const RETRY_POLICY = `
                  retry_policy:
                    retry_on: "5xx,reset,connect-failure"
                    num_retries: 2
                    retry_host_predicate:
                    - name: envoy.retry_host_predicates.previous_hosts
                      typed_config:
                        "@type": type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate
                    host_selection_retry_max_attempts: 3`;

const OUTLIER = `
    outlier_detection:
      consecutive_5xx: 3
      interval: 1s
      base_ejection_time: 10s
      max_ejection_percent: 34`;

/** The bootstrap YAML. */
export function resilienceBootstrap(o: ResilienceBootstrapOptions): string {
  const endpoints = o.endpointPorts.map((p) => `
        - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${p} } } }`).join('');
  return `# written by bench/lib/resilience-configs.ts
node: { id: bench-proxy, cluster: bench }
admin:
  address: { socket_address: { address: 127.0.0.1, port_value: ${o.adminPort} } }
static_resources:
  listeners:
  - name: bench_http
    address: { socket_address: { address: 127.0.0.1, port_value: ${o.listenerPort} } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: bench_http
          codec_type: AUTO
          route_config:
            name: bench_route
            virtual_hosts:
            - name: bench
              domains: ["*"]
              routes:
              - match: { prefix: "/" }
                route:
                  cluster: upstream${o.retries ? RETRY_POLICY : ''}
          http_filters:${o.filters ? FILTERS : ''}
          - name: envoy.filters.http.router
            typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router }
  clusters:
  - name: upstream
    type: STATIC
    connect_timeout: 1s
    lb_policy: ROUND_ROBIN${o.outlierDetection ? OUTLIER : ''}
    load_assignment:
      cluster_name: upstream
      endpoints:
      - lb_endpoints:${endpoints}
`;
}

/**
 * nginx serving `root` on three ports; the `flaky` one answers `failPercent` % of requests (chosen at
 * random per request by `split_clients` on `$request_id`) with 503 instead.
 */
export function nginxFlakyUpstreamsConfig(inst: Pick<NginxInstance, 'prefix'>, goodPorts: readonly number[], flakyPort: number,
  failPercent: number, root: string): string {
  const good = goodPorts.map((port) => `
  server {
    listen 127.0.0.1:${port};
    root ${root};
    location / { }
  }`).join('');
  return nginxCommonConfig(inst, `  split_clients "\${request_id}" $bench_fail {
    ${failPercent}% 1;
    * 0;
  }${good}
  server {
    listen 127.0.0.1:${flakyPort};
    root ${root};
    location / {
      if ($bench_fail) { return 503; }
    }
  }`);
}
