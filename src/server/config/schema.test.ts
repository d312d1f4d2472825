import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { configDocMarkdown, configSchema, envName, nodeAt } from './index.js';
import type { ObjectNode } from './index.js';

describe('config schema', () => {
  it('documents every key', () => {
    const missing: string[] = [];
    const walk = (node: ObjectNode, base: string) => {
      for (const [k, child] of Object.entries(node.fields)) {
        const path = base ? `${base}.${k}` : k;
        if (child.kind === 'object') walk(child, path);
        else {
          if (child.doc === '') missing.push(path);
          if (child.kind === 'array') walk(child.element, `${path}[]`);
        }
      }
    };
    walk(configSchema, '');
    assert.deepEqual(missing, []);
  });

  it('derives env names from paths', () => {
    assert.equal(envName('http_server.port'), 'CENTRIFUGO_HTTP_SERVER_PORT');
    assert.equal(envName('client.token.hmac_secret_key'), 'CENTRIFUGO_CLIENT_TOKEN_HMAC_SECRET_KEY');
    assert.equal(envName('log.level', 'GYRE_'), 'GYRE_LOG_LEVEL');
  });

  it('finds nodes by path, including array elements', () => {
    assert.equal(nodeAt('channel.namespaces[].history_ttl')?.kind, 'duration');
    assert.equal(nodeAt('proxies[].http.static_headers')?.kind, 'map');
    assert.equal(nodeAt('client.nope'), undefined);
  });

  it('renders a Markdown reference with env names and defaults', () => {
    const md = configDocMarkdown();
    assert.match(
      md,
      /\| `client\.ping_interval` \| duration \| `25s` \| `CENTRIFUGO_CLIENT_PING_INTERVAL` \|/,
    );
    assert.match(md, /\| `channel\.namespaces\[\]\.name` \| string \|/);
    assert.doesNotMatch(configDocMarkdown('log'), /client\.ping_interval/);
  });
});
