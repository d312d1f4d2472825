/**
 * The OpenAPI 3.0 description of the HTTP server API that the Swagger UI (`swagger.enabled`)
 * shows: one `POST <prefix>/<method>` operation per method of `apiMethods`, with the request and
 * result shapes of server-api.md §4 and the two ways to pass the API key.
 */
import { apiMethods } from '../api/methods.js';

/** A JSON Schema object as OpenAPI 3.0 writes it. */
type Schema = Record<string, unknown>;

const str = (description?: string): Schema => ({ type: 'string', ...(description ? { description } : {}) });
const bool = (description?: string): Schema => ({ type: 'boolean', ...(description ? { description } : {}) });
const int = (format: 'int32' | 'int64' | 'uint32' | 'uint64', description?: string): Schema => ({
  type: 'integer',
  format,
  ...(format.startsWith('u') ? { minimum: 0 } : {}),
  ...(description ? { description } : {}),
});
/** Any JSON value (the publication data, connection info, RPC params). */
const anyJson = (description: string): Schema => ({ description });
const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
const arrayOf = (items: Schema, description?: string): Schema => ({
  type: 'array',
  items,
  ...(description ? { description } : {}),
});
const mapOf = (value: Schema, description?: string): Schema => ({
  type: 'object',
  additionalProperties: value,
  ...(description ? { description } : {}),
});
const obj = (properties: Record<string, Schema>, description?: string, required?: string[]): Schema => ({
  type: 'object',
  properties,
  ...(required ? { required } : {}),
  ...(description ? { description } : {}),
});
const EMPTY = obj({}, 'Empty on success.');

const PRO_ONLY = 'Centrifugo PRO only: accepted and ignored.';

/** The publish fields `publish` and `broadcast` share. */
const publishFields: Record<string, Schema> = {
  data: anyJson(
    'Publication data, any JSON value (checked against the namespace `publication_data_format`).',
  ),
  b64data: str('Base64 of binary publication data; takes the place of `data`.'),
  skip_history: bool('Do not add this publication to the channel history.'),
  tags: mapOf(str(), 'Delivered with the publication; matched by subscription tag filters.'),
  idempotency_key: str('A repeat with the same key within the idempotency window returns the first result.'),
  delta: bool('Send the publication as a delta to subscribers that asked for deltas.'),
  version: int('uint64', 'When above 0, publications with a version not above the last one are dropped.'),
  version_epoch: str('Scopes `version`: a new epoch resets the comparison.'),
};

const userTarget: Record<string, Schema> = {
  user: str('User whose connections are affected (empty = anonymous).'),
  client: str('Only this connection id.'),
  session: str('Only this session.'),
};

const components: Record<string, Schema> = {
  Error: obj({ code: int('uint32'), message: str() }, 'API error (server-api.md §3.1).', ['code', 'message']),
  StreamPosition: obj({ offset: int('uint64'), epoch: str() }, 'A position in a channel stream.'),
  ClientInfo: obj(
    {
      user: str(),
      client: str(),
      conn_info: anyJson('Connection info (JSON).'),
      chan_info: anyJson('Channel info (JSON).'),
    },
    undefined,
    ['user', 'client'],
  ),
  Publication: obj({
    data: anyJson('Publication data.'),
    info: ref('ClientInfo'),
    offset: int('uint64'),
    tags: mapOf(str()),
  }),
  BoolValue: obj({ value: bool() }),
  SubscribeOptionOverride: obj({
    presence: ref('BoolValue'),
    join_leave: ref('BoolValue'),
    force_recovery: ref('BoolValue'),
    force_positioning: ref('BoolValue'),
    force_push_join_leave: ref('BoolValue'),
  }),
  Disconnect: obj({ code: int('uint32'), reason: str() }),
  NodeResult: obj({
    uid: str(),
    name: str(),
    version: str(),
    num_clients: int('uint32'),
    num_users: int('uint32'),
    num_channels: int('uint32'),
    num_subs: int('uint32'),
    uptime: int('uint32', 'Seconds since the node started.'),
    metrics: obj({ interval: { type: 'number' }, items: mapOf({ type: 'number' }) }),
  }),

  PublishRequest: obj({ channel: str('Channel to publish into.'), ...publishFields }, undefined, ['channel']),
  PublishResult: obj(
    { offset: int('uint64'), epoch: str() },
    'Stream position of the publication; both omitted without history.',
  ),
  BroadcastRequest: obj(
    { channels: arrayOf(str(), 'Channels to publish into.'), ...publishFields },
    undefined,
    ['channels'],
  ),
  BroadcastResult: obj({
    responses: arrayOf(
      obj({ result: ref('PublishResult'), error: ref('Error') }),
      'One per channel, in the order of `channels`.',
    ),
  }),
  SubscribeRequest: obj(
    {
      ...userTarget,
      channel: str(),
      info: anyJson('Channel info attached to the subscription.'),
      b64info: str(),
      data: anyJson('Sent to the client in the subscribe push.'),
      b64data: str(),
      recover_since: ref('StreamPosition'),
      expire_at: int('int64', 'Unix seconds when the subscription expires.'),
      override: ref('SubscribeOptionOverride'),
      label_filter: { type: 'object', description: PRO_ONLY },
      all_users: bool(PRO_ONLY),
    },
    'Subscribes live connections of a user to a channel, on every node.',
    ['channel'],
  ),
  SubscribeResult: EMPTY,
  UnsubscribeRequest: obj({
    ...userTarget,
    channel: str(),
    label_filter: { type: 'object', description: PRO_ONLY },
    all_users: bool(PRO_ONLY),
  }),
  UnsubscribeResult: EMPTY,
  DisconnectRequest: obj({
    ...userTarget,
    whitelist: arrayOf(str(), 'Connection ids to keep.'),
    disconnect: ref('Disconnect'),
    label_filter: { type: 'object', description: PRO_ONLY },
    all_users: bool(PRO_ONLY),
  }),
  DisconnectResult: EMPTY,
  RefreshRequest: obj({
    ...userTarget,
    expired: bool('Disconnect the connections now (3005).'),
    expire_at: int('int64', 'New expiration, unix seconds.'),
    info: anyJson('Replaces the connection info.'),
    label_filter: { type: 'object', description: PRO_ONLY },
    all_users: bool(PRO_ONLY),
  }),
  RefreshResult: EMPTY,
  PresenceRequest: obj({ channel: str() }, undefined, ['channel']),
  PresenceResult: obj({ presence: mapOf(ref('ClientInfo'), 'By client id.') }),
  PresenceStatsRequest: obj({ channel: str() }, undefined, ['channel']),
  PresenceStatsResult: obj({ num_clients: int('uint32'), num_users: int('uint32') }),
  HistoryRequest: obj(
    {
      channel: str(),
      limit: int('int32', '0: position only; -1: no limit; above 0: at most that many.'),
      since: ref('StreamPosition'),
      reverse: bool('Newest first.'),
    },
    undefined,
    ['channel'],
  ),
  HistoryResult: obj({ publications: arrayOf(ref('Publication')), epoch: str(), offset: int('uint64') }),
  HistoryRemoveRequest: obj({ channel: str() }, undefined, ['channel']),
  HistoryRemoveResult: EMPTY,
  ChannelsRequest: obj({ pattern: str('Glob pattern the channel names must match.') }),
  ChannelsResult: obj({
    channels: mapOf(obj({ num_clients: int('uint32') }), 'Active channels of every node, by name.'),
  }),
  InfoRequest: obj({}),
  InfoResult: obj({ nodes: arrayOf(ref('NodeResult')) }),
  RpcRequest: obj({ method: str(), params: anyJson('Method parameters.') }, undefined, ['method']),
  RpcResult: obj({ data: anyJson('Method result.') }),
};

/** Schema name stem of a method (`presence_stats` ⇒ `PresenceStats`, `rpc` ⇒ `Rpc`). */
function stem(method: string): string {
  return method
    .split('_')
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
    .join('');
}

const SUMMARIES: Record<string, string> = {
  publish: 'Publish data into a channel',
  broadcast: 'Publish the same data into many channels',
  subscribe: "Subscribe a user's connections to a channel",
  unsubscribe: "Unsubscribe a user's connections from a channel",
  disconnect: "Disconnect a user's connections",
  refresh: "Refresh or expire a user's connections",
  presence: 'Clients present in a channel',
  presence_stats: 'Numbers of clients and users present in a channel',
  history: 'Publications kept in a channel history',
  history_remove: 'Remove the publications of a channel history',
  channels: 'Active channels',
  info: 'Nodes of the cluster',
  rpc: 'Call a server API RPC extension',
  batch: 'Several commands in one request',
};

export interface OpenApiOptions {
  /** `http_api.handler_prefix` (default `/api`). */
  apiPrefix: string;
  /** Reported as `info.version`. */
  version: string;
}

/** The OpenAPI 3.0 document of the server API as this server serves it. */
export function openApiDocument(o: OpenApiOptions): Record<string, unknown> {
  const base = o.apiPrefix.replace(/\/+$/, '');
  const schemas: Record<string, Schema> = { ...components };
  const plain = apiMethods.filter((m) => !m.unwrapped).map((m) => m.name);
  // `batch`: every other method as a command key, replies keyed the same way.
  schemas.BatchRequest = obj({
    commands: arrayOf(
      obj(Object.fromEntries(plain.map((n) => [n, ref(`${stem(n)}Request`)]))),
      'Each command is an object with one key: the method name, holding its request.',
    ),
    parallel: bool('Run the commands concurrently.'),
  });
  schemas.BatchResult = obj({
    replies: arrayOf(
      obj({
        ...Object.fromEntries(plain.map((n) => [n, ref(`${stem(n)}Result`)])),
        error: ref('Error'),
      }),
      'One per command, in order, keyed by the method name (or `error`).',
    ),
  });

  const paths: Record<string, unknown> = {};
  for (const m of apiMethods) {
    const s = stem(m.name);
    const okBody = m.unwrapped
      ? ref(`${s}Result`)
      : obj({ result: ref(`${s}Result`), error: ref('Error') }, 'Either `result` or `error`.');
    paths[`${base}/${m.name}`] = {
      post: {
        operationId: m.name,
        summary: SUMMARIES[m.name] ?? m.name,
        tags: ['Server API'],
        requestBody: {
          required: true,
          content: { 'application/json': { schema: ref(`${s}Request`) } },
        },
        responses: {
          '200': {
            description: m.unwrapped
              ? 'The replies (always HTTP 200).'
              : 'The result, or an API error in `error` (HTTP 200 unless `http_api.error_mode` is `transport`).',
            content: { 'application/json': { schema: okBody } },
          },
          '400': { description: 'The body is not valid JSON of this request.' },
          '401': { description: 'Missing or wrong API key.' },
          '413': { description: 'The body is too large.' },
        },
      },
    };
  }

  return {
    openapi: '3.0.3',
    info: {
      title: 'Gyre server HTTP API',
      version: o.version,
      description:
        'The server API of Gyre, compatible with Centrifugo v6: `POST` a JSON request to the method path with the API key.',
    },
    security: [{ ApiKeyHeader: [] }, { AuthorizationHeader: [] }],
    paths,
    components: {
      securitySchemes: {
        ApiKeyHeader: { type: 'apiKey', in: 'header', name: 'X-API-Key', description: '`http_api.key`' },
        AuthorizationHeader: {
          type: 'apiKey',
          in: 'header',
          name: 'Authorization',
          description: '`apikey <http_api.key>`',
        },
      },
      schemas,
    },
  };
}
