/** Per-connection behaviour of a node. Durations are milliseconds. */
export interface ClientOptions {
  /** Server ping period; 0 disables pings. */
  pingInterval: number;
  /** How long a client has to answer a ping; 0 = no pong expected. */
  pongTimeout: number;
  /** Close connections that send no connect within this long (3502). */
  staleCloseDelay: number;
  /** Grace period after credentials expire before closing with 3005. */
  expiredCloseDelay: number;
  /** Grace period after a subscription expires before unsubscribing (2501) / disconnecting (3006). */
  expiredSubCloseDelay: number;
  /** Subscriptions per connection (106 / 3505 past it); 0 = unlimited. */
  channelLimit: number;
  /** Connections per user on this node (3504 past it); 0 = unlimited. */
  userConnectionLimit: number;
  /** Writer queue limit in bytes (3008 past it); 0 = unlimited. */
  queueMaxSize: number;
  /** Presence entries are refreshed this often. */
  presenceUpdateInterval: number;
  /** Cap of client history requests (limit -1 or bigger asks get this many). */
  historyMaxPublicationLimit: number;
  /** Cap of publications returned by recovery. */
  recoveryMaxPublicationLimit: number;
  /** Period of stream position checks for positioned subscriptions (reserved). */
  channelPositionCheckDelay: number;
  /** Add `time` (unix ms) to the connect result. */
  connectIncludeServerTime: boolean;
  /** Writer coalescing delay; 0 = flush on the next `setImmediate`. */
  writeDelay: number;
  /** Most messages per transport write; 0 = unlimited. */
  maxMessagesInFrame: number;
  /** Accept connections without an `onConnecting` handler as anonymous user `""`. */
  insecure: boolean;
  /**
   * Commands of one connection processed at once (`client.concurrency`); 0 or 1 = one after
   * another. See `Client` for what stays ordered.
   */
  concurrency: number;
}

export const defaultClientOptions: Readonly<ClientOptions> = Object.freeze({
  pingInterval: 25000,
  pongTimeout: 8000,
  staleCloseDelay: 10000,
  expiredCloseDelay: 25000,
  expiredSubCloseDelay: 25000,
  channelLimit: 128,
  userConnectionLimit: 0,
  queueMaxSize: 1048576,
  presenceUpdateInterval: 27000,
  historyMaxPublicationLimit: 300,
  recoveryMaxPublicationLimit: 300,
  channelPositionCheckDelay: 40000,
  connectIncludeServerTime: false,
  writeDelay: 0,
  maxMessagesInFrame: 0,
  insecure: false,
  concurrency: 0,
});
