/**
 * The Centrifugo v6 proxy wire schema (package `centrifugal.centrifugo.proxy`), embedded so the
 * built server needs no `.proto` file at run time. Field numbers follow the documented schema so
 * existing GRPC proxy backends interoperate.
 */
import protobuf from 'protobufjs';
import type { ServiceDefinition, MethodDefinition } from '@grpc/grpc-js';

const schema = `


package centrifugal.centrifugo.proxy;

service CentrifugoProxy {
  rpc Connect(ConnectRequest) returns (ConnectResponse);
  rpc Refresh(RefreshRequest) returns (RefreshResponse);
  rpc Subscribe(SubscribeRequest) returns (SubscribeResponse);
  rpc Publish(PublishRequest) returns (PublishResponse);
  rpc RPC(RPCRequest) returns (RPCResponse);
  rpc SubRefresh(SubRefreshRequest) returns (SubRefreshResponse);
  rpc SubscribeUnidirectional(SubscribeRequest) returns (stream StreamSubscribeResponse);
  rpc SubscribeBidirectional(stream StreamSubscribeRequest) returns (stream StreamSubscribeResponse);
}

message Error {
  uint32 code = 1;
  string message = 2;
  bool temporary = 3;
}

message Disconnect {
  uint32 code = 1;
  string reason = 2;
}

message BoolValue {
  bool value = 1;
}

message SubscribeOptionOverride {
  BoolValue presence = 1;
  BoolValue join_leave = 2;
  BoolValue force_recovery = 3;
  BoolValue force_positioning = 4;
  BoolValue force_push_join_leave = 5;
}

message FilterNode {
  string op = 1;
  string key = 2;
  string cmp = 3;
  string val = 4;
  repeated string vals = 5;
  repeated FilterNode nodes = 6;
}

message ChannelsCapability {
  repeated string channels = 1;
  repeated string allow = 2;
  string match = 3;
}

message ConnectRequest {
  string client = 1;
  string transport = 2;
  string protocol = 3;
  string encoding = 4;
  bytes data = 10;
  string b64data = 11;
  string name = 12;
  string version = 13;
  repeated string channels = 14;
}

message SubscribeOptions {
  int64 expire_at = 1;
  bytes info = 2;
  string b64info = 3;
  bytes data = 4;
  string b64data = 5;
  SubscribeOptionOverride override = 6;
  FilterNode server_tags_filter = 7;
  bool cache_recover = 8;
}

message ConnectResult {
  string user = 1;
  int64 expire_at = 2;
  bytes info = 3;
  string b64info = 4;
  bytes data = 5;
  string b64data = 6;
  repeated string channels = 7;
  map<string, SubscribeOptions> subs = 8;
  bytes meta = 9;
  repeated ChannelsCapability caps = 10;
  map<string, string> labels = 11;
}

message ConnectResponse {
  ConnectResult result = 1;
  Error error = 2;
  Disconnect disconnect = 3;
}

message RefreshRequest {
  string client = 1;
  string transport = 2;
  string protocol = 3;
  string encoding = 4;
  string user = 10;
  bytes meta = 11;
}

message RefreshResult {
  bool expired = 1;
  int64 expire_at = 2;
  bytes info = 3;
  string b64info = 4;
  bytes meta = 5;
  repeated ChannelsCapability caps = 6;
}

message RefreshResponse {
  RefreshResult result = 1;
  Error error = 2;
  Disconnect disconnect = 3;
}

message SubscribeRequest {
  string client = 1;
  string transport = 2;
  string protocol = 3;
  string encoding = 4;
  string user = 10;
  string channel = 11;
  string token = 12;
  bytes meta = 13;
  bytes data = 14;
  string b64data = 15;
}

message SubscribeResult {
  int64 expire_at = 1;
  bytes info = 2;
  string b64info = 3;
  bytes data = 4;
  string b64data = 5;
  SubscribeOptionOverride override = 6;
  repeated string allow = 7;
  FilterNode server_tags_filter = 8;
}

message SubscribeResponse {
  SubscribeResult result = 1;
  Error error = 2;
  Disconnect disconnect = 3;
}

message PublishRequest {
  string client = 1;
  string transport = 2;
  string protocol = 3;
  string encoding = 4;
  string user = 10;
  string channel = 11;
  bytes data = 12;
  string b64data = 13;
  bytes meta = 14;
}

message PublishResult {
  bytes data = 1;
  string b64data = 2;
  bool skip_history = 3;
  map<string, string> tags = 4;
  string idempotency_key = 5;
  bool delta = 6;
  uint64 version = 7;
  string version_epoch = 8;
}

message PublishResponse {
  PublishResult result = 1;
  Error error = 2;
  Disconnect disconnect = 3;
}

message RPCRequest {
  string client = 1;
  string transport = 2;
  string protocol = 3;
  string encoding = 4;
  string user = 10;
  string method = 11;
  bytes data = 12;
  string b64data = 13;
  bytes meta = 14;
}

message RPCResult {
  bytes data = 1;
  string b64data = 2;
}

message RPCResponse {
  RPCResult result = 1;
  Error error = 2;
  Disconnect disconnect = 3;
}

message SubRefreshRequest {
  string client = 1;
  string transport = 2;
  string protocol = 3;
  string encoding = 4;
  string user = 10;
  string channel = 11;
  bytes meta = 12;
}

message SubRefreshResult {
  bool expired = 1;
  int64 expire_at = 2;
  bytes info = 3;
  string b64info = 4;
}

message SubRefreshResponse {
  SubRefreshResult result = 1;
  Error error = 2;
  Disconnect disconnect = 3;
}

// Field numbers match the client protocol Publication.
message Publication {
  bytes data = 4;
  map<string, string> tags = 7;
}

message StreamSubscribeRequest {
  SubscribeRequest subscribe_request = 1;
  Publication publication = 2;
}

message StreamSubscribeResponse {
  SubscribeResponse subscribe_response = 1;
  Publication publication = 2;
}
`;

const root = protobuf.parse('syntax = "proto3";' + schema, { keepCase: true }).root;

/** Converts decoded messages to plain objects: snake_case keys, int64 as numbers, bytes as Buffer. */
const toObjectOptions: protobuf.IConversionOptions = { longs: Number, arrays: true, objects: true };

/** Looks up a message type of the proxy package. */
export function proxyType(name: string): protobuf.Type {
  return root.lookupType(`centrifugal.centrifugo.proxy.${name}`);
}

/** Encodes a plain object (snake_case keys, Uint8Array bytes) as the named message. */
export function encodeProxyMessage(name: string, value: Record<string, unknown>): Buffer {
  const t = proxyType(name);
  return Buffer.from(t.encode(t.fromObject(value)).finish());
}

/** Decodes the named message into a plain object (see `toObjectOptions`). */
export function decodeProxyMessage(name: string, bytes: Uint8Array): Record<string, unknown> {
  const t = proxyType(name);
  return t.toObject(t.decode(bytes), toObjectOptions);
}

/** One method of `CentrifugoProxy`: request and response message names and streaming flags. */
export interface ProxyMethod {
  name: string;
  request: string;
  response: string;
  requestStream: boolean;
  responseStream: boolean;
}

/** The methods of `centrifugal.centrifugo.proxy.CentrifugoProxy`. */
export const proxyMethods: readonly ProxyMethod[] = Object.values(
  root.lookupService('centrifugal.centrifugo.proxy.CentrifugoProxy').methods,
).map((m) => ({
  name: m.name,
  request: m.requestType,
  response: m.responseType,
  requestStream: m.requestStream === true,
  responseStream: m.responseStream === true,
}));

type PlainMethod = MethodDefinition<Record<string, unknown>, Record<string, unknown>>;

/**
 * A grpc-js service definition of `CentrifugoProxy` working with plain objects: usable by
 * `Server.addService` (test backends, applications) and `makeGenericClientConstructor`.
 */
export const proxyServiceDefinition: ServiceDefinition = Object.fromEntries(
  proxyMethods.map((m): [string, PlainMethod] => [
    m.name,
    {
      path: `/centrifugal.centrifugo.proxy.CentrifugoProxy/${m.name}`,
      requestStream: m.requestStream,
      responseStream: m.responseStream,
      requestSerialize: (v) => encodeProxyMessage(m.request, v),
      requestDeserialize: (b) => decodeProxyMessage(m.request, b),
      responseSerialize: (v) => encodeProxyMessage(m.response, v),
      responseDeserialize: (b) => decodeProxyMessage(m.response, b),
      originalName: m.name,
    },
  ]),
);
