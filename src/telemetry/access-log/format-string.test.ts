import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { ConfigError } from '../../xds/config-error.ts';
import { StreamInfo } from '../../proxy/http/stream-info.ts';
import { compileFormatString, DEFAULT_FORMAT } from './format-string.ts';
import { exampleStreamInfo, failedStreamInfo } from './test-stream-info.ts';

const fmt = (f: string, info = exampleStreamInfo(), omitEmptyValues = false): string =>
  compileFormatString(f, 'log_format.text_format', { omitEmptyValues })(info);

test('the default format renders Envoy\'s documented example line', () => {
  const info = exampleStreamInfo();
  info.request!.path = '/api/v1/locations';
  assert.equal(
    fmt(DEFAULT_FORMAT, info),
    '[2016-04-15T20:17:00.310Z] "POST /api/v1/locations HTTP/2" 204 - 154 0 226 100 "10.0.35.28" "nsq2http" ' +
      '"cc21d9b0-cf5c-432b-8c7e-98aeb7988cd2" "locations" "10.0.2.1:80"\n',
  );
});

test('the default format prefers x-envoy-original-path over :path', () => {
  const info = exampleStreamInfo();
  info.request!.headers.push('x-envoy-original-path', '/original');
  assert.match(fmt(DEFAULT_FORMAT, info), /"POST \/original HTTP\/2"/);
});

test('unset values render as - and the default format still has every field', () => {
  assert.equal(
    fmt(DEFAULT_FORMAT, failedStreamInfo()),
    '[2024-01-02T03:04:05.006Z] "GET /nope HTTP/1.1" 503 UH,URX 0 0 1 - "-" "-" "-" "example.com" "-"\n',
  );
});

test('omit_empty_values renders unset values as empty strings', () => {
  assert.equal(fmt('[%UPSTREAM_HOST%][%REQ(USER-AGENT)%]', failedStreamInfo(), true), '[][]');
});

test('stream info operators render their fields', () => {
  const cases: [string, string][] = [
    ['%PROTOCOL%', 'HTTP/2'],
    ['%RESPONSE_CODE%', '204'],
    ['%RESPONSE_CODE_DETAILS%', 'via_upstream'],
    ['%RESPONSE_FLAGS%', '-'],
    ['%BYTES_RECEIVED%', '154'],
    ['%BYTES_SENT%', '0'],
    ['%DURATION%', '226'],
    ['%REQUEST_DURATION%', '12'],
    ['%RESPONSE_DURATION%', '120'],
    ['%RESPONSE_TX_DURATION%', '106'],
    ['%UPSTREAM_HOST%', '10.0.2.1:80'],
    ['%UPSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%', '10.0.2.1'],
    ['%UPSTREAM_REMOTE_PORT%', '80'],
    ['%UPSTREAM_CLUSTER%', 'locations.default'],
    ['%UPSTREAM_TRANSPORT_FAILURE_REASON%', '-'],
    ['%ROUTE_NAME%', 'route-1'],
    ['%DOWNSTREAM_REMOTE_ADDRESS%', '10.0.35.28:51234'],
    ['%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%', '10.0.35.28'],
    ['%DOWNSTREAM_REMOTE_PORT%', '51234'],
    ['%DOWNSTREAM_DIRECT_REMOTE_ADDRESS%', '10.0.35.28:51234'],
    ['%DOWNSTREAM_LOCAL_ADDRESS%', '[::1]:15001'],
    ['%DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT%', '::1'],
    ['%DOWNSTREAM_LOCAL_PORT%', '15001'],
    ['%REQUESTED_SERVER_NAME%', '-'],
    ['%STREAM_ID%', 'cc21d9b0-cf5c-432b-8c7e-98aeb7988cd2'],
    ['%HOSTNAME%', hostname()],
    ['100%% done', '100% done'],
  ];
  for (const [f, want] of cases) assert.equal(fmt(f), want, f);
});

test('request header operators read pseudo-headers from the request head and others from the header list', () => {
  const cases: [string, string][] = [
    ['%REQ(:METHOD)%', 'POST'],
    ['%REQ(:PATH)%', '/api/v1/locations?x=1'],
    ['%REQ(:AUTHORITY)%', 'locations'],
    ['%REQ(:SCHEME)%', 'https'],
    ['%REQ(HOST)%', 'locations'],
    ['%REQ(User-Agent)%', 'nsq2http'],
    ['%REQUEST_HEADER(USER-AGENT)%', 'nsq2http'],
    ['%REQ(X-DUP)%', 'first'],
    ['%REQ(X-EMPTY)%', ''],
    ['%REQ(X-MISSING)%', '-'],
    ['%REQ(X-MISSING?USER-AGENT)%', 'nsq2http'],
    ['%REQ(USER-AGENT?X-FORWARDED-FOR)%', 'nsq2http'],
    ['%REQ(X-MISSING?X-ALSO-MISSING)%', '-'],
    ['%REQ(X-REQUEST-ID):8%', 'cc21d9b0'],
    ['%REQ(:PATH):0%', ''],
    ['%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%', '100'],
    ['%RESP(:STATUS)%', '204'],
    ['%RESPONSE_HEADER(CONTENT-TYPE):4%', 'text'],
    ['%RESP(X-MISSING)%', '-'],
    ['%TRAILER(GRPC-STATUS)%', '0'],
    ['%RESPONSE_TRAILER(X-MISSING?GRPC-STATUS)%', '0'],
  ];
  for (const [f, want] of cases) assert.equal(fmt(f), want, f);
});

test('header operators render - when the stream has no request or response yet', () => {
  const info = new StreamInfo();
  assert.equal(fmt('%REQ(:METHOD)% %RESP(CONTENT-TYPE)% %TRAILER(GRPC-STATUS)% %DURATION% %RESPONSE_CODE%', info), '- - - - 0');
});

test('START_TIME takes a strftime format in UTC with Envoy\'s %s and %Nf extensions', () => {
  const info = exampleStreamInfo();
  const cases: [string, string][] = [
    ['%START_TIME%', '2016-04-15T20:17:00.310Z'],
    ['%START_TIME(%Y-%m-%dT%H:%M:%S.%3fZ)%', '2016-04-15T20:17:00.310Z'],
    ['%START_TIME(%Y/%m/%dT%H:%M:%S%z %s)%', '2016/04/15T20:17:00+0000 1460751420'],
    ['%START_TIME(%s.%3f)%', '1460751420.310'],
    ['%START_TIME(%s.%6f)%', '1460751420.310000'],
    ['%START_TIME(%s.%9f)%', '1460751420.310000000'],
    ['%START_TIME(%f)%', '310000000'],
    ['%START_TIME(%1f|%2f)%', '3|31'],
    ['%START_TIME(%a %b %e %T %Y %j %p %I %Z %%)%', 'Fri Apr 15 20:17:00 2016 106 PM 08 UTC %'],
    ['%START_TIME(%F %D %R)%', '2016-04-15 04/15/16 20:17'],
  ];
  for (const [f, want] of cases) assert.equal(fmt(f, info), want, f);
});

test('START_TIME renders each line\'s own time when consecutive lines share a second or not', () => {
  const f = compileFormatString('%START_TIME%', 'p');
  const info = exampleStreamInfo();
  const base = info.startTime;
  const seen: string[] = [];
  for (const delta of [0, 5, 999, 1000, -1]) {
    info.startTime = base + delta;
    seen.push(f(info));
  }
  assert.deepEqual(seen, [
    '2016-04-15T20:17:00.310Z', '2016-04-15T20:17:00.315Z', '2016-04-15T20:17:01.309Z',
    '2016-04-15T20:17:01.310Z', '2016-04-15T20:17:00.309Z',
  ]);
});

test('ENVIRONMENT reads a variable at config time, with truncation', () => {
  process.env.WEFT_TEST_ENV = 'production-east';
  assert.equal(fmt('%ENVIRONMENT(WEFT_TEST_ENV):10%|%ENVIRONMENT(WEFT_TEST_UNSET_VAR)%'), 'production|-');
});

test('a constant format renders as is', () => {
  assert.equal(fmt('plain text\n'), 'plain text\n');
  assert.equal(fmt(''), '');
});

function assertConfigError(f: string, detail: RegExp): void {
  assert.throws(() => compileFormatString(f, 'access_log[0].typed_config.log_format.text_format'), (e: unknown) => {
    assert.ok(e instanceof ConfigError, `expected ConfigError for ${f}, got ${String(e)}`);
    assert.equal(e.path, 'access_log[0].typed_config.log_format.text_format');
    assert.match(e.detail, detail);
    return true;
  });
}

test('unknown operators are a ConfigError naming the operator', () => {
  assertConfigError('[%NOT_AN_OPERATOR%]', /unknown command operator %NOT_AN_OPERATOR%/);
  assertConfigError('%UPSTREAM_SERVICE_TIME%', /%UPSTREAM_SERVICE_TIME%/);
});

test('malformed commands are ConfigErrors', () => {
  assertConfigError('100% done', /position 3/);
  assertConfigError('%REQ(:PATH)', /position 0/);
  assertConfigError('%lower_case%', /position 0/);
  assertConfigError('%REQ()%', /needs a header name/);
  assertConfigError('%REQ%', /needs a header name/);
  assertConfigError('%REQ(A?B?C)%', /more than one alternative/);
  assertConfigError('%DURATION(x)%', /does not take an argument/);
  assertConfigError('%DURATION:3%', /does not take a length/);
  assertConfigError('%START_TIME(%Q)%', /unsupported conversion %Q/);
  assertConfigError('%START_TIME(%0f)%', /1 to 9 digits/);
});
