/** The JSON SDK's own delta decoding, for core tests that check what a delta subscriber sees. */
import { Centrifuge as JsonCentrifuge } from 'centrifuge';
import type { Msg } from './fake-transport.js';

/**
 * A decoder that applies publications the way the JSON `centrifuge` SDK does for a delta
 * subscription (its internal codec), remembering the previous value between calls.
 */
export function sdkDecoder(): (pub: Msg) => { value: unknown; isDelta: boolean } {
  const codec = (new JsonCentrifuge('ws://127.0.0.1:1/x') as unknown as { _codec: Msg })._codec as {
    applyDeltaIfNeeded(p: Msg, prev: unknown): { newData: unknown; newPrevValue: unknown; isDelta: boolean };
  };
  let prev: unknown;
  return (pub) => {
    const r = codec.applyDeltaIfNeeded({ ...pub }, prev);
    prev = r.newPrevValue;
    return { value: r.newData, isDelta: r.isDelta };
  };
}
