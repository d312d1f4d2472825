import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ClientError } from '../../protocol/codes.js';
import { ChannelRules, historyEnabled, validPublicationData } from './index.js';

const rules = new ChannelRules(
  {
    without_namespace: { presence: true },
    namespaces: [
      { name: 'chat', history_size: 10, history_ttl: 60_000, history_meta_ttl: 5000 },
      { name: 'intl', channel_regex: '^[\\p{L}0-9_]+$' },
      { name: 'ids', channel_regex: '^[0-9]+$' },
      { name: 'personal' },
    ],
    history_meta_ttl: 99_000,
    max_length: 20,
    publication_data_format: 'json',
  },
  { enabled: true, personal_channel_namespace: 'personal' },
);

const code = (fn: () => unknown): number | undefined => {
  try {
    fn();
  } catch (e) {
    if (e instanceof ClientError) return e.code;
    throw e;
  }
  return undefined;
};

describe('namespace resolution', () => {
  it('resolves channels without a boundary to without_namespace', () => {
    const r = rules.resolve('news');
    assert.equal(r?.namespace, '');
    assert.equal(r?.rest, 'news');
    assert.equal(r?.options.presence, true);
  });

  it('takes the namespace before the first boundary, after the private prefix', () => {
    assert.equal(rules.resolve('chat:room:1')?.namespace, 'chat');
    assert.equal(rules.resolve('chat:room:1')?.rest, 'room:1');
    assert.equal(rules.resolve('$chat:secret')?.namespace, 'chat');
    assert.equal(rules.resolve('$chat:secret')?.rest, 'secret');
  });

  it('treats an empty namespace name as without_namespace', () => {
    assert.equal(rules.resolve(':x')?.namespace, '');
  });

  it('returns undefined for unknown namespaces and lookup throws 102', () => {
    assert.equal(rules.resolve('nope:x'), undefined);
    assert.equal(
      code(() => rules.lookup('nope:x')),
      102,
    );
  });

  it('honours custom boundaries and prefixes', () => {
    const custom = new ChannelRules({
      namespace_boundary: '/',
      private_prefix: '!',
      namespaces: [{ name: 'a' }],
    });
    assert.equal(custom.resolve('!a/x')?.namespace, 'a');
    assert.equal(custom.resolve('a:x')?.namespace, '');
    assert.equal(custom.isPrivate('!a/x'), true);
    assert.equal(custom.isPrivate('$a/x'), false);
  });
});

describe('name validation', () => {
  it('rejects non-ASCII names without channel_regex (107)', () => {
    assert.equal(
      code(() => rules.lookup('café')),
      107,
    );
    assert.equal(
      code(() => rules.lookup('chat:café')),
      107,
    );
    assert.equal(rules.validName('cafe'), true);
  });

  it('applies channel_regex to the part after ns: instead of the ASCII rule', () => {
    assert.equal(rules.validName('intl:café'), true);
    assert.equal(
      code(() => rules.lookup('intl:ca-fé')),
      107,
    );
    assert.equal(rules.validName('ids:123'), true);
    assert.equal(
      code(() => rules.lookup('ids:12a')),
      107,
    );
  });

  it('rejects names longer than max_length (bytes)', () => {
    assert.equal(rules.validName('a'.repeat(20)), true);
    assert.equal(
      code(() => rules.lookup('a'.repeat(21))),
      107,
    );
    assert.equal(rules.validName('intl:' + 'é'.repeat(8)), false, '16 bytes + 5 > 20');
  });
});

describe('user-limited and personal channels', () => {
  it('detects user-limited channels and allowed users after the last #', () => {
    assert.equal(rules.isUserLimited('dialog#42,43'), true);
    assert.equal(rules.isUserLimited('dialog'), false);
    assert.equal(rules.userAllowed('dialog#42,43', '43'), true);
    assert.equal(rules.userAllowed('dialog#42,43', '4'), false);
    assert.equal(rules.userAllowed('a#1#2', '2'), true);
    assert.equal(rules.userAllowed('a#1#2', '1'), false);
    assert.equal(rules.userAllowed('public', 'anyone'), true);
  });

  it('builds personal channel names', () => {
    assert.equal(rules.personalChannel('42'), 'personal:#42');
    assert.equal(new ChannelRules().personalChannel('42'), '#42');
  });
});

describe('namespace helpers', () => {
  it('resolves meta TTL and data format with global fallbacks', () => {
    const chat = rules.resolve('chat:x')!.options;
    const plain = rules.resolve('x')!.options;
    assert.equal(rules.historyMetaTtl(chat), 5000);
    assert.equal(rules.historyMetaTtl(plain), 99_000);
    assert.equal(new ChannelRules().historyMetaTtl({}), 720 * 3600 * 1000);
    assert.equal(rules.dataFormat(plain), 'json');
    assert.equal(rules.dataFormat({ publication_data_format: 'binary' }), 'binary');
    assert.equal(historyEnabled(chat), true);
    assert.equal(historyEnabled(plain), false);
    assert.equal(historyEnabled({ history_size: 5 }), false);
  });

  it('throws on a channel_regex that does not compile', () => {
    assert.throws(() => new ChannelRules({ namespaces: [{ name: 'bad', channel_regex: '(' }] }));
  });
});

describe('publication data format', () => {
  const b = (s: string) => Buffer.from(s);
  it('"" rejects only empty data', () => {
    assert.equal(validPublicationData('', b('')), false);
    assert.equal(validPublicationData('', b('x')), true);
  });
  it('json needs valid JSON', () => {
    assert.equal(validPublicationData('json', b('{"a":1}')), true);
    assert.equal(validPublicationData('json', b('"s"')), true);
    assert.equal(validPublicationData('json', b('{a')), false);
    assert.equal(validPublicationData('json', b('')), false);
  });
  it('json_object needs an object', () => {
    assert.equal(validPublicationData('json_object', b('{"a":1}')), true);
    assert.equal(validPublicationData('json_object', b('[1]')), false);
    assert.equal(validPublicationData('json_object', b('1')), false);
    assert.equal(validPublicationData('json_object', b('null')), false);
  });
  it('binary accepts anything, even empty', () => {
    assert.equal(validPublicationData('binary', new Uint8Array([0xff, 0])), true);
    assert.equal(validPublicationData('binary', new Uint8Array()), true);
  });
  it('reads a subarray view correctly', () => {
    const whole = b('xx{"a":1}yy');
    assert.equal(validPublicationData('json_object', whole.subarray(2, 9)), true);
  });
});

describe('Go regex compatibility', () => {
  it('accepts (?P<name>) groups and leading (?i) flags', async () => {
    const { compileGoRegex } = await import('./index.js');
    assert.equal(compileGoRegex('^(?P<id>[0-9]+)$').exec('12')?.groups?.['id'], '12');
    assert.equal(compileGoRegex('(?i)^abc$').test('ABC'), true);
    const r = new ChannelRules({ namespaces: [{ name: 'ci', channel_regex: '(?i)^room[0-9]$' }] });
    assert.equal(r.validName('ci:ROOM1'), true);
    assert.equal(r.validName('ci:hall1'), false);
  });
});
