/** Issue 16: defaults and bounds of the hardening settings. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig } from '../../src/config/config.js';

describe('hardening defaults', () => {
  it('a tenant may hold at most half the process query slots unless told otherwise', () => {
    assert.equal(loadConfig({}).tenantLimits.maxConcurrentQueries, 128);
    assert.equal(loadConfig({ RAGD_MAX_CONCURRENT_QUERIES: '10' }).tenantLimits.maxConcurrentQueries, 5);
    assert.equal(loadConfig({ RAGD_MAX_CONCURRENT_QUERIES: '1' }).tenantLimits.maxConcurrentQueries, 1);
    assert.equal(loadConfig({ RAGD_TENANT_MAX_CONCURRENT_QUERIES: '7' }).tenantLimits.maxConcurrentQueries, 7);
  });
});
