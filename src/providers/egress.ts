/**
 * Egress policy for provider URLs a tenant sets (RAGD_PROVIDER_ALLOW_PRIVATE off by default):
 * a tenant must not make ragd call the cloud metadata service, the private network or ragd's own
 * host. Checked twice: the URL when it is saved (literal addresses, credentials in the URL),
 * and the address each connection actually goes to, after DNS, so a name that resolves (or
 * re-resolves) to a private address is refused too. Redirects are never followed: one could
 * lead anywhere. The server's own RAGD_*_BASE_URL is the operator's choice and not checked.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP } from 'node:net';
import { Agent, buildConnector, fetch as undiciFetch } from 'undici';
import type { ProviderConfig } from '../config/config.js';
import { badRequest } from '../domain/errors.js';

/** Loopback, private, link-local (cloud metadata), shared, multicast and reserved ranges. */
const PRIVATE = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['224.0.0.0', 3],
] as const) PRIVATE.addSubnet(net, bits, 'ipv4');
for (const [net, bits] of [['::', 127], ['fc00::', 7], ['fe80::', 10], ['ff00::', 8], ['64:ff9b::', 96]] as const) PRIVATE.addSubnet(net, bits, 'ipv6');

export function isPrivateAddress(address: string): boolean {
  const bare = address.replace(/^\[|\]$/g, '');
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(bare);
  if (mapped) return PRIVATE.check(mapped[1]!, 'ipv4');
  const family = isIP(bare);
  if (family === 4) return PRIVATE.check(bare, 'ipv4');
  if (family === 6) return PRIVATE.check(bare, 'ipv6');
  return false;
}

/**
 * A provider base URL as a tenant's settings may hold it: http(s), no credentials in it (they
 * would be shown back in the settings view; the key has its own field), and, unless
 * `allowPrivate`, no private address literal. The WHATWG parser has already turned integer and
 * hex forms (`http://2130706433/`) into dotted ones.
 */
export function checkProviderUrl(raw: string, allowPrivate: boolean): void {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw badRequest('base_url is not a valid URL', 'invalid_provider_url');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw badRequest('base_url must be http or https', 'invalid_provider_url');
  if (url.username || url.password) {
    throw badRequest('base_url must not carry credentials; send the key as api_key', 'invalid_provider_url');
  }
  const host = url.hostname.toLowerCase();
  if (!allowPrivate && (isPrivateAddress(host) || host === 'localhost' || host.endsWith('.localhost'))) {
    throw badRequest('base_url points at a private, loopback or link-local address, which tenant settings may not reach', 'provider_url_not_allowed');
  }
}

/** The URL with any `user:pass@` removed, for display. */
export function withoutCredentials(raw: string): string {
  try {
    const url = new URL(raw);
    url.username = '';
    url.password = '';
    return url.href;
  } catch {
    return raw;
  }
}

/** The host a key was given for: changing it means the key must be sent again. */
export function providerHost(raw: string): string {
  try {
    return new URL(raw).host.toLowerCase();
  } catch {
    return raw;
  }
}

type Lookup = (hostname: string, options: object, callback: (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void) => void;

/** dns.lookup, refusing names that resolve to a private address (every address is checked). */
const guardedLookup: Lookup = (hostname, options, callback) => {
  dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
    if (err) return callback(err, []);
    const bad = addresses.find((a) => isPrivateAddress(a.address));
    if (bad) {
      const refused = Object.assign(new Error(`${hostname} resolves to ${bad.address}, a private address provider calls may not reach`), { code: 'EPROVIDEREGRESS' });
      return callback(refused, []);
    }
    const all = (options as { all?: boolean }).all;
    if (all) return callback(null, addresses);
    callback(null, addresses[0]!.address, addresses[0]!.family);
  });
};

/** A connector that reaches public addresses only: literal ones checked here, names after DNS. */
function publicOnly(): buildConnector.connector {
  const base = buildConnector({ lookup: guardedLookup as never });
  return (opts, callback) => {
    // net.connect does not look literal addresses up, so the lookup guard never sees them.
    const host = opts.hostname.replace(/^\[|\]$/g, '');
    if (isIP(host) && isPrivateAddress(host)) {
      const refused = Object.assign(new Error(`${host} is a private address provider calls may not reach`), { code: 'EPROVIDEREGRESS' });
      return callback(refused, null);
    }
    return base(opts, callback);
  };
}

/**
 * A fetch for the OpenAI SDK and the reranker: no redirects followed, and with `allowPrivate`
 * off, connections only to public addresses (checked on the resolved address, at connect time,
 * which also covers literal IPs: undici looks those up too).
 */
export function egressFetch(allowPrivate: boolean): typeof fetch {
  const dispatcher = new Agent(allowPrivate ? {} : { connect: publicOnly() });
  return ((input: string | URL | Request, init?: RequestInit) =>
    undiciFetch(input as never, { ...(init as object), redirect: 'error', dispatcher } as never)) as unknown as typeof fetch;
}

/** A tenant's provider calls go through the egress policy; the server's own are the operator's choice. */
export function egressOf(cfg: ProviderConfig): { fetch?: typeof fetch } {
  return cfg.tenantEgress ? { fetch: egressFetch(cfg.tenantEgress.allowPrivate) } : {};
}
