import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { JsonValue } from '@bufbuild/protobuf';
import { ConfigError } from '../../../xds/config-error.ts';
import type { RedirectAction } from './redirect-action.ts';
import { head, routesTable } from './testing.ts';
import type { RequestHead } from '../request-head.ts';

function redirect(json: JsonValue, match: JsonValue = { prefix: '/' }): RedirectAction {
  const entry = routesTable([{ name: 'r', match, redirect: json }]).virtualHosts[0].routes[0];
  assert.equal(entry.action.kind, 'redirect');
  return entry.action as RedirectAction;
}

function location(json: JsonValue, req: Partial<RequestHead>, match?: JsonValue): string {
  return redirect(json, match).buildLocation(head(req));
}

describe('redirect Location', () => {
  it('https_redirect keeps host, path and query; status 301 by default', () => {
    const r = redirect({ https_redirect: true });
    assert.equal(r.status, 301);
    assert.equal(r.buildLocation(head({ authority: 'example.com', path: '/p?q=1' })), 'https://example.com/p?q=1');
  });

  it('drops the default port of the original scheme when the scheme changes', () => {
    assert.equal(location({ https_redirect: true }, { authority: 'example.com:80', path: '/p' }), 'https://example.com/p');
    assert.equal(location({ https_redirect: true }, { authority: 'example.com:80', headers: ['x-forwarded-proto', 'http'] }), 'https://example.com/');
    assert.equal(location({ https_redirect: true }, { authority: 'example.com:8080' }), 'https://example.com:8080/');
    assert.equal(location({ scheme_redirect: 'HTTP' }, { scheme: 'https', authority: 'example.com:443' }), 'http://example.com/');
    assert.equal(location({ https_redirect: true }, { authority: '[::1]:80' }), 'https://[::1]/');
  });

  it('host_redirect and port_redirect', () => {
    assert.equal(location({ host_redirect: 'new.example.com' }, { authority: 'old.com:8080', path: '/a' }), 'http://new.example.com/a');
    assert.equal(location({ port_redirect: 9000 }, { authority: 'example.com:8080', path: '/a' }), 'http://example.com:9000/a');
    assert.equal(location({ host_redirect: 'h', port_redirect: 8443, https_redirect: true }, { path: '/a' }), 'https://h:8443/a');
  });

  it('path_redirect keeps the query unless strip_query; a query in path_redirect wins and stays', () => {
    assert.equal(location({ path_redirect: '/new' }, { path: '/old?a=1' }), 'http://example.com/new?a=1');
    assert.equal(location({ path_redirect: '/new', strip_query: true }, { path: '/old?a=1' }), 'http://example.com/new');
    assert.equal(location({ path_redirect: '/new?b=2', strip_query: true }, { path: '/old?a=1' }), 'http://example.com/new?b=2');
    assert.equal(location({ path_redirect: 'relative' }, { path: '/old' }), 'http://example.com/relative');
    assert.equal(location({ strip_query: true }, { path: '/keep?drop=1' }), 'http://example.com/keep');
  });

  it('prefix_rewrite replaces the matched prefix, keeping the rest and the query', () => {
    assert.equal(location({ prefix_rewrite: '/new/' }, { path: '/old/x?y=1' }, { prefix: '/old/' }), 'http://example.com/new/x?y=1');
    assert.equal(location({ prefix_rewrite: '/new/' }, { path: '/OLD/x' }, { prefix: '/old/', case_sensitive: false }), 'http://example.com/new/x');
  });

  it('regex_rewrite rewrites the path with capture groups', () => {
    const rr = { regex_rewrite: { pattern: { regex: '^/service/([^/]+)(/.*)$' }, substitution: '\\2/instance/\\1' } };
    assert.equal(location(rr, { path: '/service/foo/v1/api?x=1' }), 'http://example.com/v1/api/instance/foo?x=1');
  });

  it('response_code picks 301, 302, 303, 307 or 308', () => {
    const codes: [string, number][] = [['MOVED_PERMANENTLY', 301], ['FOUND', 302], ['SEE_OTHER', 303], ['TEMPORARY_REDIRECT', 307], ['PERMANENT_REDIRECT', 308]];
    for (const [name, status] of codes) assert.equal(redirect({ response_code: name, https_redirect: true }).status, status);
  });

  it('rejects an invalid scheme or a bad regex', () => {
    const err = (json: JsonValue) => {
      try { redirect(json); } catch (e) { assert.ok(e instanceof ConfigError); return e.path; }
      return 'no error';
    };
    assert.equal(err({ scheme_redirect: 'ht tp' }), 'virtual_hosts[0].routes[0].redirect.scheme_redirect');
    assert.equal(err({ regex_rewrite: { pattern: { regex: '(' }, substitution: '' } }), 'virtual_hosts[0].routes[0].redirect.regex_rewrite.pattern.regex');
  });
});
