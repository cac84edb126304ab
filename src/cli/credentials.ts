/**
 * The credential the HTTP commands send: RAGD_API_KEY (or `--api-key`, which main.ts copies
 * there) as a tenant key or JWT, RAGD_ADMIN_KEY (or `--admin-key`) for `ragd admin`. Without one
 * nothing is sent, which is what a server running open on loopback expects.
 */
export function authHeader(kind: 'tenant' | 'admin' = 'tenant'): Record<string, string> {
  const credential = kind === 'admin' ? process.env.RAGD_ADMIN_KEY : process.env.RAGD_API_KEY;
  return credential ? { authorization: `Bearer ${credential}` } : {};
}
