import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createLogger, scrubUrl } from '../../src/app/logger.js';

function capture(level = 'debug') {
  const lines: string[] = [];
  const logger = createLogger(level, { destination: { write: (l: string) => void lines.push(l) } });
  return { logger, lines, parsed: () => lines.map((l) => JSON.parse(l) as Record<string, any>) };
}

describe('logger', () => {
  test('secret-named fields are censored at every depth the server logs them', () => {
    const { logger, lines, parsed } = capture();
    logger.info(
      {
        apiKey: 'top-secret-1',
        config: { llm: { apiKey: 'nested-secret-2', api_key: 'nested-secret-3' }, adminKey: 'admin-secret-4' },
        req: { headers: { authorization: 'Bearer header-secret-5', cookie: 'c=cookie-secret-6', 'x-api-key': 'xkey-secret-7' } },
        headers: { authorization: 'Basic header-secret-8', 'x-api-key': 'xkey-secret-9' },
      },
      'with secrets',
    );
    for (const secret of ['top-secret-1', 'nested-secret-2', 'nested-secret-3', 'admin-secret-4', 'header-secret-8', 'xkey-secret-9']) {
      assert.ok(!lines.join('').includes(secret), secret);
    }
    const line = parsed()[0]!;
    assert.equal(line.config.llm.apiKey, '[redacted]');
    assert.equal(line.headers.authorization, '[redacted]');
  });

  test('errors are serialized with their secret-named fields censored and URLs scrubbed', () => {
    const { lines, logger, parsed } = capture();
    const err = Object.assign(new Error('upstream said no'), {
      headers: { authorization: 'Bearer err-secret-1', 'x-request-id': 'r1' },
      url: 'https://u:err-secret-2@llm.example/v1?api_key=err-secret-3',
    });
    logger.warn({ err }, 'provider failed');
    for (const secret of ['err-secret-1', 'err-secret-2', 'err-secret-3']) assert.ok(!lines.join('').includes(secret), secret);
    const line = parsed()[0]!;
    assert.equal(line.err.message, 'upstream said no');
    assert.equal(line.err.headers['x-request-id'], 'r1');
  });

  test('URLs lose user info and key-like query parameters, in fields and nested objects', () => {
    assert.equal(scrubUrl('https://user:pw@llm.example/v1?api_key=abc&q=1'), 'https://[redacted]@llm.example/v1?api_key=[redacted]&q=1');
    assert.equal(scrubUrl('/v1/kbs?token=t0k&limit=5'), '/v1/kbs?token=[redacted]&limit=5');
    assert.equal(scrubUrl('/v1/kbs?limit=5'), '/v1/kbs?limit=5');
    const { logger, parsed } = capture();
    logger.info({ url: 'redis://:hunter2@cache:6379', nested: { base: 'http://k@h/?key=zzz' } }, 'urls');
    const line = parsed()[0]!;
    assert.equal(line.url, 'redis://[redacted]@cache:6379');
    assert.equal(line.nested.base, 'http://[redacted]@h/?key=[redacted]');
  });
});
