/**
 * `envoy.service.ratelimit.v3.RateLimitService` for @grpc/grpc-js, with protobuf-es types as serializers:
 * the server (`weft ratelimit`) and the proxy's rate-limit filter (the client) share this definition.
 */
import { fromBinary, toBinary } from '@bufbuild/protobuf';
import type * as grpc from '@grpc/grpc-js';
import {
  RateLimitRequestSchema, RateLimitResponseSchema, type RateLimitRequest, type RateLimitResponse,
} from '../xds/gen/envoy/service/ratelimit/v3/rls_pb.js';

/** The method path. */
export const SHOULD_RATE_LIMIT_PATH = '/envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit';

export const serializeRequest = (m: RateLimitRequest): Buffer => Buffer.from(toBinary(RateLimitRequestSchema, m));
export const deserializeRequest = (b: Buffer): RateLimitRequest => fromBinary(RateLimitRequestSchema, b);
export const serializeResponse = (m: RateLimitResponse): Buffer => Buffer.from(toBinary(RateLimitResponseSchema, m));
export const deserializeResponse = (b: Buffer): RateLimitResponse => fromBinary(RateLimitResponseSchema, b);

/** The service definition (grpc.Server.addService). */
export const RATE_LIMIT_SERVICE: grpc.ServiceDefinition = {
  ShouldRateLimit: {
    path: SHOULD_RATE_LIMIT_PATH,
    requestStream: false,
    responseStream: false,
    requestSerialize: serializeRequest, requestDeserialize: deserializeRequest,
    responseSerialize: serializeResponse, responseDeserialize: deserializeResponse,
  } satisfies grpc.MethodDefinition<RateLimitRequest, RateLimitResponse>,
};
