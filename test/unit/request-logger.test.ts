import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import pino from 'pino';
import { createLogger } from '../../src/app/logger.js';
import { RequestLogger, requestLoggerFactory } from '../../src/http/request-logger.js';

function capture(level: string) {
  const lines: string[] = [];
  let children = 0;
  const logger = createLogger(level, { destination: { write: (l: string) => void lines.push(l) } });
  // Counts the pino children made, to see that a silent request makes none.
  const parent = new Proxy(logger, {
    get(target, key) {
      if (key === 'child') return (...args: Parameters<pino.Logger['child']>) => (children++, target.child(...args));
      const value = Reflect.get(target, key, target) as unknown;
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { parent, lines, parsed: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>), children: () => children };
}

describe('request logger', () => {
  test('a request that writes nothing at the level makes no child logger', () => {
    const { parent, lines, children } = capture('warn');
    const log = new RequestLogger(parent, { reqId: 'r-1' });
    log.setBindings({ tenant: 'acme' });
    log.info({ req: {} }, 'incoming request');
    log.debug('details');
    assert.equal(children(), 0);
    assert.equal(lines.length, 0);
  });

  test('a written line carries the request id, then the bindings set later', () => {
    const { parent, parsed, children } = capture('info');
    const log = new RequestLogger(parent, { reqId: 'r-2' });
    log.setBindings({ tenant: 'acme', key: 'rgd_abc' });
    log.info({ code: 'x' }, 'first');
    log.warn('second %s', 'formatted');
    log.setBindings({ extra: 1 });
    log.error(new Error('boom'));
    assert.equal(children(), 1, 'one child, made on the first line');
    const [first, second, third] = parsed();
    assert.deepEqual([first!.reqId, first!.tenant, first!.key, first!.code, first!.msg], ['r-2', 'acme', 'rgd_abc', 'x', 'first']);
    assert.equal(second!.msg, 'second formatted');
    assert.equal(third!.extra, 1);
    assert.equal((third!.err as { message: string }).message, 'boom');
    const raw = JSON.stringify(first);
    assert.ok(raw.indexOf('"reqId"') < raw.indexOf('"tenant"'), 'the request id comes first, as with a plain child');
  });

  test('routes with their own level get an ordinary child at once', () => {
    const { parent, children } = capture('info');
    const own = requestLoggerFactory(parent, { reqId: 'r-3' }, { level: 'warn' });
    assert.equal(children(), 1);
    assert.equal(own.level, 'warn');
    assert.ok(requestLoggerFactory(parent, { reqId: 'r-4' }, { level: 'info' }) instanceof RequestLogger, 'the same level stays lazy');
  });
});
