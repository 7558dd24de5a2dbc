import { StreamInfo } from '../../proxy/http/stream-info.ts';
import { ResponseFlag } from '../../proxy/http/response-flags.ts';

/** Test fixture: the request from Envoy's documented default-format example, with every field known. */
export function exampleStreamInfo(): StreamInfo {
  const info = new StreamInfo();
  info.startTime = Date.UTC(2016, 3, 15, 20, 17, 0, 310);
  info.startMs = 1000;
  info.lastDownstreamRxMs = 1012.7;
  info.firstUpstreamRxMs = 1120.2;
  info.endMs = 1226.9;
  info.protocol = 'HTTP/2';
  info.request = {
    method: 'POST',
    path: '/api/v1/locations?x=1',
    authority: 'locations',
    scheme: 'https',
    headers: [
      'x-forwarded-for', '10.0.35.28',
      'user-agent', 'nsq2http',
      'x-request-id', 'cc21d9b0-cf5c-432b-8c7e-98aeb7988cd2',
      'x-dup', 'first',
      'x-dup', 'second',
      'x-empty', '',
    ],
    remoteAddress: '10.0.35.28',
  };
  info.responseCode = 204;
  info.responseCodeDetails = 'via_upstream';
  info.responseHeaders = ['x-envoy-upstream-service-time', '100', 'content-type', 'text/plain'];
  info.responseTrailers = ['grpc-status', '0'];
  info.bytesReceived = 154;
  info.bytesSent = 0;
  info.upstreamHost = '10.0.2.1:80';
  info.upstreamCluster = 'locations.default';
  info.routeName = 'route-1';
  info.downstreamRemoteAddress = '10.0.35.28:51234';
  info.downstreamLocalAddress = '[::1]:15001';
  info.requestId = 'cc21d9b0-cf5c-432b-8c7e-98aeb7988cd2';
  return info;
}

/** A stream that failed before any upstream was picked: most fields unset. */
export function failedStreamInfo(): StreamInfo {
  const info = new StreamInfo();
  info.startTime = Date.UTC(2024, 0, 2, 3, 4, 5, 6);
  info.startMs = 50;
  info.endMs = 51;
  info.protocol = 'HTTP/1.1';
  info.request = { method: 'GET', path: '/nope', authority: 'example.com', scheme: 'http', headers: [], remoteAddress: '127.0.0.1' };
  info.responseCode = 503;
  info.responseFlags = ResponseFlag.NoHealthyUpstream | ResponseFlag.UpstreamRetryLimitExceeded;
  info.responseCodeDetails = 'no_healthy_upstream';
  info.responseHeaders = [];
  return info;
}
