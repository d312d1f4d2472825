import assert from 'node:assert/strict';
import { it } from 'node:test';
import {
  ClientError,
  DisconnectError,
  ProtocolDecodeError,
  codecFor,
  jsonCodec,
  protobufCodec,
} from './index.js';

void it('codecFor picks the codec of the negotiated format; the barrel re-exports codes and errors', () => {
  assert.equal(codecFor('json'), jsonCodec);
  assert.equal(codecFor('protobuf'), protobufCodec);
  assert.equal(codecFor('json').type, 'json');
  assert.equal(codecFor('protobuf').type, 'protobuf');
  assert.equal(new ClientError(107).message, 'bad request');
  assert.equal(new DisconnectError(3501).reason, 'bad request');
  assert.ok(new ProtocolDecodeError('x') instanceof Error);
});
