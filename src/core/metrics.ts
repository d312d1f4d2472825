import type { Command } from '../protocol/types.js';

/**
 * Running totals of what the connections of one transport were sent. The writer adds to it once
 * per flush (never per message); the metrics implementation reads it at scrape time.
 */
export interface SentTally {
  /** Messages handed to the transport. */
  messages: number;
  /** Their encoded size in bytes (framing excluded). */
  bytes: number;
}

/** Kinds of messages a node exchanges with its broker / controller. */
export type BrokerMessageType = 'publication' | 'join' | 'leave' | 'control';

/**
 * Node actions counted by `centrifugo_node_action_count{action}`, named as Centrifugo names them:
 * a connection registered or gone, a subscription added or removed, the broker told to deliver a
 * channel or to stop, presence written or removed, and the reads of presence and history (a
 * recovery's read, a cache recovery's read and a read of the stream top apart), a history removal
 * and a cluster survey. Implementations may create their counters up front from this list.
 */
export const NODE_ACTIONS = [
  'add_client',
  'remove_client',
  'add_subscription',
  'remove_subscription',
  'broker_subscribe',
  'broker_unsubscribe',
  'add_presence',
  'remove_presence',
  'presence',
  'presence_stats',
  'history',
  'history_recover',
  'history_recover_cache',
  'history_stream_top',
  'history_remove',
  'survey',
] as const;

/** One of {@link NODE_ACTIONS}. */
export type NodeAction = (typeof NODE_ACTIONS)[number];

/**
 * Instrumentation points of a node. Core calls these at a handful of places; `noopMetrics` (the
 * default) does nothing, the server supplies a Prometheus implementation.
 *
 * Contract for implementations: every method is synchronous, cheap and never throws. None is
 * called per delivered message: fan-out is counted by the writer per flush through a
 * {@link SentTally}, broker traffic once per broadcast. Counts of live things (clients, users,
 * subscriptions, channels) are not reported here at all: an implementation reads them from the
 * node when it is scraped.
 */
export interface NodeMetrics {
  /** A timestamp (ms) to pass back to a `...Done` method; `0` when durations are not measured. */
  now(): number;
  /** The tally the writers of `transport` connections add to; undefined ⇒ nothing is counted. */
  sentTally(transport: string): SentTally | undefined;
  /** One decoded incoming frame of a connection (`bytes` = frame size). */
  commandsReceived(transport: string, commands: readonly Command[], bytes: number): void;
  /** A client command (`connect`, `subscribe`, ...) finished; `started` came from `now()`. */
  commandDone(method: string, started: number): void;
  /** A connection's pong arrived for the ping sent at `started` (from `now()`). */
  pingPong(transport: string, started: number): void;
  /** An error reply was sent for a client command. */
  replyError(method: string, code: number): void;
  /** The server closed a connection with this code (not for the client going away). */
  serverDisconnect(code: number): void;
  /** The server ended a subscription with this unsubscribe code. */
  serverUnsubscribe(code: number): void;
  /** A subscription tried to recover; `publications` = how many it recovered. */
  recovered(success: boolean, publications: number): void;
  /** A connection completed connect. */
  connectionAccepted(transport: string): void;
  /** A subscription was established. */
  subscriptionAccepted(): void;
  /** The node sent a message to the broker / controller. */
  brokerSent(type: BrokerMessageType): void;
  /** The node received a message from the broker / controller. */
  brokerReceived(type: BrokerMessageType): void;
  /** A publication was fanned out to this node's subscribers; `started` came from `now()`. */
  broadcastDone(started: number): void;
  /** The node performed one of the actions Centrifugo counts (once per call, not per item). */
  action(name: NodeAction): void;
  /** A cluster survey `op` (e.g. `channels`) finished, answered or timed out. */
  surveyDone(op: string, started: number): void;
}

const nothing = (): void => {};

/** Metrics off: every hook does nothing, writers get no tally. */
export const noopMetrics: NodeMetrics = {
  now: () => 0,
  sentTally: () => undefined,
  commandsReceived: nothing,
  commandDone: nothing,
  pingPong: nothing,
  replyError: nothing,
  serverDisconnect: nothing,
  serverUnsubscribe: nothing,
  recovered: nothing,
  connectionAccepted: nothing,
  subscriptionAccepted: nothing,
  brokerSent: nothing,
  brokerReceived: nothing,
  broadcastDone: nothing,
  action: nothing,
  surveyDone: nothing,
};
