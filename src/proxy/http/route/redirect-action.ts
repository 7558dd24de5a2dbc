/**
 * A route's `redirect` action, compiled: builds the Location of the redirect reply the way Envoy does
 * (RouteEntryImplBase::newUri): scheme (`https_redirect` / `scheme_redirect`, else the request's), host
 * (`host_redirect`, else the request's authority, dropping a default port the new scheme makes wrong, or any
 * port when `port_redirect` is set), port, and path (`path_redirect`, `prefix_rewrite` or `regex_rewrite`,
 * else the request's), with `strip_query`.
 */
import {
  RedirectAction_RedirectResponseCode as Code,
  type RedirectAction as RedirectActionProto,
} from '../../../xds/gen/envoy/config/route/v3/route_components_pb.js';
import type { RequestHead } from '../request-head.ts';
import { getHeader } from '../request-head.ts';
import { ConfigError, joinPath } from '../../../xds/config-error.ts';
import { declareSupported } from '../../../xds/supported.ts';
import { compileRegexRewrite, type RegexRewrite } from './re2.ts';
import type { CompiledRouteMatch } from './route-match.ts';
import { queryStart, rewriteTarget } from './path-rewrite.ts';

declareSupported('envoy.config.route.v3.RedirectAction', [
  'https_redirect', 'scheme_redirect', 'host_redirect', 'port_redirect', 'path_redirect', 'prefix_rewrite',
  'regex_rewrite', 'response_code', 'strip_query',
]);

const INVALID_RE = /[\0\r\n]/;
const SCHEME_RE = /^[a-zA-Z][a-zA-Z0-9+.-]*$/;

/** The compiled `redirect` action. */
export class RedirectAction {
  readonly kind = 'redirect' as const;
  /** 301 (default), 302, 303, 307 or 308. */
  readonly status: number;
  /** New scheme; '' keeps the request's. */
  private readonly scheme: string;
  /** New host; '' keeps the request's. */
  private readonly host: string;
  /** `:port`, or ''. */
  private readonly port: string;
  private readonly pathRedirect: string;
  private readonly pathRedirectHasQuery: boolean;
  private readonly prefixRewrite: string;
  private readonly regexRewrite: RegexRewrite | null;
  private readonly stripQuery: boolean;
  /** The route's match, for the length of the matched prefix that prefix_rewrite replaces. */
  private readonly match: CompiledRouteMatch;

  constructor(init: {
    status: number; scheme: string; host: string; port: string; pathRedirect: string; prefixRewrite: string;
    regexRewrite: RegexRewrite | null; stripQuery: boolean; match: CompiledRouteMatch;
  }) {
    this.status = init.status;
    this.scheme = init.scheme;
    this.host = init.host;
    this.port = init.port;
    this.pathRedirect = init.pathRedirect;
    this.pathRedirectHasQuery = init.pathRedirect.includes('?');
    this.prefixRewrite = init.prefixRewrite;
    this.regexRewrite = init.regexRewrite;
    this.stripQuery = init.stripQuery;
    this.match = init.match;
  }

  /** The Location header value for this request. */
  buildLocation(head: RequestHead): string {
    const scheme = this.scheme !== '' ? this.scheme : head.scheme;
    const host = this.host !== '' ? this.host : requestHost(head, scheme, this.port);

    let path = head.path;
    if (this.prefixRewrite !== '' || this.regexRewrite !== null) {
      path = rewriteTarget(path, this.match.matchedLength(queryStart(path)), this.prefixRewrite, this.regexRewrite);
    }
    if (this.pathRedirect !== '') {
      // A query in path_redirect replaces the request's (and strip_query does not remove it).
      if (this.pathRedirectHasQuery) {
        path = this.pathRedirect;
      } else {
        const q = path.indexOf('?');
        path = q === -1 ? this.pathRedirect : this.pathRedirect + path.slice(q);
      }
    }
    if (!path.startsWith('/')) path = `/${path}`;
    if (this.stripQuery && !this.pathRedirectHasQuery) {
      const q = path.indexOf('?');
      if (q !== -1) path = path.slice(0, q);
    }
    return `${scheme}://${host}${this.port}${path}`;
  }
}

/**
 * The request's authority for the Location: its port is dropped when port_redirect replaces it, or when the
 * scheme changes and the port is the default of the request's protocol (x-forwarded-proto, else the scheme):
 * `http://foo:80` redirected to https becomes `https://foo`.
 */
function requestHost(head: RequestHead, newScheme: string, newPort: string): string {
  const host = head.authority;
  if (host === '') return host;
  let portStart: number;
  if (host.startsWith('[')) {
    const end = host.lastIndexOf(']:');
    portStart = end === -1 ? -1 : end + 1;
  } else {
    portStart = host.lastIndexOf(':');
  }
  if (portStart === -1) return host;
  const port = host.slice(portStart);
  const proto = getHeader(head.headers, 'x-forwarded-proto') ?? head.scheme;
  let remove = newPort !== '';
  if (newScheme !== proto) {
    remove ||= (proto === 'https' && port === ':443') || (proto === 'http' && port === ':80');
  }
  return remove ? host.slice(0, portStart) : host;
}

function statusOf(code: Code, path: string): number {
  switch (code) {
    case Code.MOVED_PERMANENTLY: return 301;
    case Code.FOUND: return 302;
    case Code.SEE_OTHER: return 303;
    case Code.TEMPORARY_REDIRECT: return 307;
    case Code.PERMANENT_REDIRECT: return 308;
    default: throw new ConfigError(path, 'unknown redirect response code');
  }
}

function noControl(value: string, path: string): string {
  if (INVALID_RE.test(value)) throw new ConfigError(path, 'must not contain NUL, CR or LF');
  return value;
}

/** Compiles a `redirect` action at `path` (`…routes[i].redirect`) for a route whose match is `match`. */
export function compileRedirectAction(r: RedirectActionProto, match: CompiledRouteMatch, path: string): RedirectAction {
  let scheme = '';
  const s = r.schemeRewriteSpecifier;
  if (s.case === 'httpsRedirect') {
    if (s.value) scheme = 'https';
  } else if (s.case === 'schemeRedirect') {
    if (!SCHEME_RE.test(s.value)) throw new ConfigError(joinPath(path, 'scheme_redirect'), `invalid scheme ${JSON.stringify(s.value)}`);
    scheme = s.value.toLowerCase();
  }
  if (r.portRedirect > 65535) throw new ConfigError(joinPath(path, 'port_redirect'), 'must be a port number (1-65535)');
  let pathRedirect = '';
  let prefixRewrite = '';
  let regexRewrite: RegexRewrite | null = null;
  const p = r.pathRewriteSpecifier;
  switch (p.case) {
    case 'pathRedirect': pathRedirect = noControl(p.value, joinPath(path, 'path_redirect')); break;
    case 'prefixRewrite': prefixRewrite = noControl(p.value, joinPath(path, 'prefix_rewrite')); break;
    case 'regexRewrite': regexRewrite = compileRegexRewrite(p.value, joinPath(path, 'regex_rewrite')); break;
  }
  return new RedirectAction({
    status: statusOf(r.responseCode, joinPath(path, 'response_code')),
    scheme,
    host: noControl(r.hostRedirect, joinPath(path, 'host_redirect')),
    port: r.portRedirect === 0 ? '' : `:${r.portRedirect}`,
    pathRedirect, prefixRewrite, regexRewrite,
    stripQuery: r.stripQuery,
    match,
  });
}
