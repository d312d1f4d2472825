export { channelReplacer, NatsBroker } from './broker.js';
export { NatsController } from './controller.js';
export { SharedNatsConnection, type NatsSettings } from './connection.js';
