/** One running asynchronous consumer. */
export interface Consumer {
  readonly name: string;
  /**
   * Connects and prepares (consumer group, durable consumer, ...), then starts consuming in the
   * background. Rejects (having released everything) when the service cannot be used at all.
   */
  start(): Promise<void>;
  /**
   * Stops taking new messages, lets the message being processed finish (and be acknowledged),
   * then closes the connections. Messages not acknowledged stay with the service for redelivery.
   */
  stop(): Promise<void>;
}
