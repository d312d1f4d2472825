import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ChannelSub, Client } from './client.js';
import { Hub } from './hub.js';

const client = (id: string, userId: string): Client => ({ id, userId }) as Client;
const ids = (it: Iterable<Client>): string[] => [...it].map((c) => c.id);
const sub = (c: Client, channel = 'ch'): ChannelSub => ({ client: c, channel }) as ChannelSub;

void describe('Hub', () => {
  void it('indexes a user with one connection and with several', () => {
    const hub = new Hub();
    const a = client('a', 'u1');
    const b = client('b', 'u1');
    const c = client('c', 'u2');
    hub.addClient(a);
    assert.equal(hub.userConnectionCount('u1'), 1);
    assert.deepEqual(ids(hub.userClients('u1')), ['a']);
    hub.addClient(b);
    hub.addClient(c);
    hub.addClient(b); // again: no duplicate
    assert.equal(hub.userConnectionCount('u1'), 2);
    assert.deepEqual(ids(hub.userClients('u1')), ['a', 'b']);
    assert.deepEqual([hub.numClients, hub.numUsers], [3, 2]);
    hub.removeClient(a);
    assert.deepEqual(ids(hub.userClients('u1')), ['b']);
    hub.removeClient(b);
    hub.removeClient(b);
    assert.equal(hub.userConnectionCount('u1'), 0);
    assert.deepEqual(ids(hub.userClients('u1')), []);
    assert.deepEqual([hub.numClients, hub.numUsers], [1, 1]);
  });

  void it('tracks channel subscribers in subscription order and reports first and last', () => {
    const hub = new Hub();
    const a = client('a', 'u1');
    const b = client('b', 'u2');
    const c = client('c', 'u3');
    const subA = sub(a);
    assert.equal(hub.addSub('ch', subA), true);
    assert.equal(hub.subscriberGroup('ch'), subA);
    assert.deepEqual([...(hub.subscribers('ch')?.keys() ?? [])], ['a']);
    assert.equal(hub.subscribers('ch')?.get('a'), a);
    assert.equal(hub.addSub('ch', sub(b)), false);
    assert.equal(hub.addSub('ch', sub(a)), false);
    assert.equal(hub.addSub('ch', sub(c)), false);
    assert.equal(hub.numSubs, 3);
    assert.deepEqual([...(hub.subscribers('ch')?.keys() ?? [])], ['a', 'b', 'c']);
    assert.deepEqual(hub.channelCounts(), { ch: 3 });
    assert.equal(hub.removeSub('ch', b), false);
    assert.equal(hub.removeSub('ch', b), false);
    assert.equal(hub.removeSub('other', a), false);
    assert.equal(hub.removeSub('ch', a), false);
    assert.equal(hub.numSubs, 1);
    assert.equal(hub.removeSub('ch', c), true);
    assert.equal(hub.hasSubscribers('ch'), false);
    assert.equal(hub.subscribers('ch'), undefined);
    assert.deepEqual([hub.numSubs, hub.numChannels], [0, 0]);
  });

  void it("a client's new subscription to a channel replaces its old one, alone or in a group", () => {
    const hub = new Hub();
    const a = client('a', 'u1');
    const b = client('b', 'u2');
    const first = sub(a);
    const second = sub(a);
    hub.addSub('ch', first);
    assert.equal(hub.addSub('ch', second), false);
    assert.equal(hub.subscriberGroup('ch'), second);
    assert.equal(hub.numSubs, 1);
    hub.addSub('ch', sub(b));
    const third = sub(a);
    hub.addSub('ch', third);
    const group = hub.subscriberGroup('ch') as ReadonlyMap<string, ChannelSub>;
    assert.equal(group.get('a'), third);
    assert.deepEqual([...group.keys()], ['a', 'b']);
    assert.equal(hub.numSubs, 2);
  });

  void it('removing a client that is not the single subscriber leaves the channel alone', () => {
    const hub = new Hub();
    const a = client('a', 'u1');
    const subA = sub(a);
    hub.addSub('ch', subA);
    assert.equal(hub.removeSub('ch', client('x', 'u9')), false);
    assert.equal(hub.subscriberGroup('ch'), subA);
    assert.equal(hub.numSubs, 1);
  });
});
