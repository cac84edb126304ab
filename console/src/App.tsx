import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { api, ApiError, credential, setCredential, type Kb } from './api.ts';
import type { Lang } from './i18n.ts';
import { Admin } from './screens/Admin.tsx';
import { Chat } from './screens/Chat.tsx';
import { Documents } from './screens/Documents.tsx';
import { Inspector } from './screens/Inspector.tsx';
import { Kbs } from './screens/Kbs.tsx';
import { Lab } from './screens/Lab.tsx';
import { OpsPanel } from './screens/Ops.tsx';
import { SignIn } from './screens/SignIn.tsx';
import { Link, navigate, useI18n, usePath } from './ui.tsx';

type Session = 'open' | 'tenant' | 'admin' | 'signin';

/**
 * Who we are: open mode (no credential needed), a tenant key, the admin key, or nobody yet.
 * Decided by asking the API, never by guessing: a tenant route answers a tenant key, an admin
 * route the admin key.
 */
async function probe(): Promise<Session> {
  try {
    await api('/v1/kbs');
    return credential() ? 'tenant' : 'open';
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 401 || !credential()) {
      if (err instanceof ApiError && err.status === 401) return 'signin';
      throw err;
    }
  }
  try {
    await api('/v1/admin/tenants');
    return 'admin';
  } catch {
    return 'signin';
  }
}

/** /kbs/:kb/:screen[/:id] → its parts. */
function route(path: string): { screen: string; kb?: string; id?: string } {
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  if (parts[0] === 'kbs' && parts[1]) return { screen: parts[2] ?? 'documents', kb: parts[1], ...(parts[3] ? { id: parts[3] } : {}) };
  return { screen: parts[0] ?? 'kbs' };
}

export function App() {
  const { t, lang, setLang, err } = useI18n();
  const client = useQueryClient();
  const [refused, setRefused] = useState(false);
  const session = useQuery({ queryKey: ['session'], queryFn: probe, staleTime: Infinity, retry: false });
  const [path, params] = usePath();
  const r = route(path);
  const s = session.data;
  const tenantSide = s === 'open' || s === 'tenant';
  const kbs = useQuery({ queryKey: ['kbs'], queryFn: () => api<{ kbs: Kb[] }>('/v1/kbs'), enabled: tenantSide });
  const kb = r.kb ?? kbs.data?.kbs[0]?.id ?? 'default';

  const signIn = async (key: string) => {
    setCredential(key);
    client.clear();
    const next = await probe().catch(() => 'signin' as const);
    setRefused(next === 'signin');
    if (next === 'signin') setCredential(null);
    client.setQueryData(['session'], next);
    navigate(next === 'admin' ? '/admin' : '/kbs');
  };
  const signOut = () => {
    setCredential(null);
    client.clear();
    navigate('/');
    void client.invalidateQueries({ queryKey: ['session'] });
  };

  let body;
  if (session.isPending) body = <p>{t('common.loading')}</p>;
  else if (session.error) body = <p className="error">{err(session.error)}</p>;
  else if (s === 'signin') body = <SignIn onSubmit={(k) => void signIn(k)} refused={refused} />;
  else if (r.screen === 'admin' || s === 'admin') body = s === 'admin' ? <Admin /> : <p>{t('admin.needAdmin')}</p>;
  else if (r.screen === 'ops') body = <OpsPanel />;
  else if (r.screen === 'signin') body = <p>{t('signin.open')}</p>;
  else if (r.kb && r.screen === 'documents' && r.id) body = <Inspector kb={r.kb} id={r.id} focus={params.get('chunk')} />;
  else if (r.kb && r.screen === 'documents') body = <Documents key={r.kb} kb={r.kb} />;
  else if (r.kb && r.screen === 'lab') body = <Lab key={r.kb} kb={r.kb} />;
  else if (r.kb && r.screen === 'chat') body = <Chat key={r.kb} kb={r.kb} />;
  else body = <Kbs />;

  const nav = (to: string, label: string, active: boolean) => (
    <Link to={to} current={active}>
      {label}
    </Link>
  );
  return (
    <>
      <a href="#main" className="skip">
        {t('nav.skip')}
      </a>
      <header className="top">
        <strong className="brand">ragd</strong>
        {tenantSide && (
          <nav aria-label="main">
            {nav('/kbs', t('nav.kbs'), r.screen === 'kbs')}
            {nav(`/kbs/${kb}/documents`, t('nav.documents'), r.screen === 'documents')}
            {nav(`/kbs/${kb}/lab`, t('nav.lab'), r.screen === 'lab')}
            {nav(`/kbs/${kb}/chat`, t('nav.chat'), r.screen === 'chat')}
            {nav('/ops', t('nav.ops'), r.screen === 'ops')}
            {nav('/admin', t('nav.admin'), r.screen === 'admin')}
          </nav>
        )}
        {s === 'admin' && <nav aria-label="main">{nav('/admin', t('nav.admin'), true)}</nav>}
        <div className="row">
          {tenantSide && kbs.data && kbs.data.kbs.length > 0 && r.kb && (
            <label>
              <span className="visually-hidden">{t('nav.kbs')}</span>
              <select value={kb} onChange={(e) => navigate(`/kbs/${e.target.value}/${r.kb ? r.screen : 'documents'}`)} name="kb">
                {kbs.data.kbs.map((k) => (
                  <option key={k.id}>{k.id}</option>
                ))}
              </select>
            </label>
          )}
          <label>
            <span className="visually-hidden">{t('nav.language')}</span>
            <select value={lang} onChange={(e) => setLang(e.target.value as Lang)} name="lang" data-testid="lang">
              <option value="en">English</option>
              <option value="zh">中文</option>
            </select>
          </label>
          {credential() && (
            <button type="button" onClick={signOut}>
              {t('nav.signout')}
            </button>
          )}
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        {body}
      </main>
    </>
  );
}
