/**
 * Asynchronous consumers (`consumers[]`): API commands, or publication data, read from external
 * queues and run through the same executor as the server API. Gyre runs the `postgresql`,
 * `nats_jetstream` and `redis_stream` types; config validation refuses the other Centrifugo types.
 *
 * Delivery is at-least-once: a message is acknowledged / deleted only after its API call is done.
 * Bad messages are logged and dropped; internal API errors and service outages are retried.
 */
import type { Logger } from '../../core/logger.js';
import type { ConsumerConfig } from '../config/index.js';
import type { ConsumerTracer } from '../tracing.js';
import { ConsumerDispatcher, type ConsumerApi } from './dispatch.js';
import { NatsJetStreamConsumer } from './nats-jetstream.js';
import { PostgresConsumer } from './postgresql.js';
import { RedisStreamConsumer } from './redis-stream.js';
import type { Consumer } from './types.js';

export { ConsumerDispatcher, RetryableError, CONSUMER_METHODS, type ConsumerApi } from './dispatch.js';
export type { Consumer } from './types.js';
export { PostgresConsumer } from './postgresql.js';
export { NatsJetStreamConsumer } from './nats-jetstream.js';
export { RedisStreamConsumer } from './redis-stream.js';

export { SUPPORTED_CONSUMER_TYPES } from '../config/index.js';

/**
 * Thrown for consumer settings Gyre cannot run with; the message names the config key. Types
 * Gyre does not run (`kafka`, `google_pub_sub`, `aws_sqs`, `azure_service_bus`) are refused
 * earlier, by config validation (`startupProblems`).
 */
export class ConsumerConfigError extends Error {}

/** What the consumers need from the server. */
export interface ConsumerDeps {
  api: ConsumerApi;
  logger: Logger;
  /** This node's id: the consumer name inside Redis consumer groups. */
  nodeId: string;
  /** Traces every processed message (`opentelemetry.consuming`); absent = no tracing. */
  tracer?: ConsumerTracer;
}

/** The started consumers. */
export interface RunningConsumers {
  readonly consumers: readonly Consumer[];
  /** Stops every consumer (in-flight messages finish and are acknowledged). Idempotent. */
  stop(): Promise<void>;
}

function create(c: ConsumerConfig, i: number, deps: ConsumerDeps): Consumer {
  const dispatcher = new ConsumerDispatcher(
    deps.api,
    deps.logger,
    c.name,
    deps.tracer?.consumer(c.name, c.type),
  );
  const key = `consumers[${i}]`;
  switch (c.type) {
    case 'postgresql':
      return new PostgresConsumer(c.name, c.postgresql, dispatcher, deps.logger, `${key}.postgresql`);
    case 'nats_jetstream':
      return new NatsJetStreamConsumer(
        c.name,
        c.nats_jetstream,
        dispatcher,
        deps.logger,
        `${key}.nats_jetstream`,
      );
    case 'redis_stream':
      return new RedisStreamConsumer(c.name, c.redis_stream, dispatcher, deps.logger, deps.nodeId);
    default:
      throw new ConsumerConfigError(`${key}.type: ${c.type} consumers are not supported by Gyre`);
  }
}

/**
 * Starts every enabled consumer, one after the other. When one fails to start, those already
 * started are stopped and the error (naming the consumer) is thrown.
 */
export async function startConsumers(
  configs: readonly ConsumerConfig[],
  deps: ConsumerDeps,
): Promise<RunningConsumers> {
  const started: Consumer[] = [];
  const stopAll = async (): Promise<void> => {
    await Promise.all(
      started.map((c) =>
        c
          .stop()
          .catch((err: unknown) =>
            deps.logger.error({ consumer: c.name, err: (err as Error).message }, 'error stopping consumer'),
          ),
      ),
    );
  };
  for (const [i, c] of configs.entries()) {
    if (!c.enabled) {
      deps.logger.info({ consumer: c.name, type: c.type }, 'consumer is not enabled, skip');
      continue;
    }
    try {
      const consumer = create(c, i, deps);
      await consumer.start();
      started.push(consumer);
    } catch (err) {
      await stopAll();
      if (err instanceof ConsumerConfigError) throw err;
      throw new Error(`error initializing ${c.type} consumer "${c.name}": ${(err as Error).message}`, {
        cause: err,
      });
    }
    deps.logger.info({ consumer: c.name, type: c.type }, 'running consumer');
  }
  let stopping: Promise<void> | undefined;
  return {
    consumers: started,
    stop: () => (stopping ??= stopAll()),
  };
}
