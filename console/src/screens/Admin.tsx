import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useEffect, useState, type FormEvent } from 'react';
import { api } from '../api.ts';
import { ErrorNote, ConfirmButton, useI18n } from '../ui.tsx';

interface Tenant {
  id: string;
  name: string;
  created_at: string;
}
interface Key {
  id: string;
  name: string;
  prefix: string;
  created_at: string;
  key?: string;
}

interface CheckResult {
  kind: string;
  configured: boolean;
  ok: boolean;
  ms: number;
  message: string | null;
}

/** "Test connection" for each of the tenant's providers: one small real call each. */
function ProviderTests({ tenant }: { tenant: string }) {
  const { t } = useI18n();
  const [results, setResults] = useState<Record<string, CheckResult>>({});
  const test = useMutation({
    mutationFn: (kind: string) => api<CheckResult>(`/v1/admin/tenants/${tenant}/providers/${kind}/test`, { method: 'POST' }),
    onSuccess: (r) => setResults((all) => ({ ...all, [r.kind]: r })),
  });
  return (
    <ul className="plain">
      {(['llm', 'embed', 'rerank'] as const).map((kind) => {
        const r = results[kind];
        return (
          <li key={kind} className="row wrap" data-testid={`provider-${kind}`}>
            <code>{kind}</code>
            <button type="button" onClick={() => test.mutate(kind)} disabled={test.isPending}>
              {t('admin.test')}
            </button>
            {r && !r.configured && <span className="muted">{t('ops.none')}</span>}
            {r && r.configured && r.ok && <span className="badge ok">{t('admin.testOk', { ms: r.ms })}</span>}
            {r && !r.ok && <span className="error">{r.message}</span>}
          </li>
        );
      })}
      <ErrorNote error={test.error} />
    </ul>
  );
}

function TenantPanel({ tenant }: { tenant: string }) {
  const { t } = useI18n();
  const client = useQueryClient();
  const [minted, setMinted] = useState<string | null>(null);
  const keys = useQuery({ queryKey: ['keys', tenant], queryFn: () => api<{ keys: Key[] }>(`/v1/admin/tenants/${tenant}/keys`) });
  const settings = useQuery({ queryKey: ['settings', tenant], queryFn: () => api<Record<string, unknown>>(`/v1/admin/tenants/${tenant}/settings`) });
  const [draft, setDraft] = useState('');
  const [saved, setSaved] = useState(false);
  useEffect(() => {
    if (settings.data) setDraft(JSON.stringify({ limits: settings.data.limits ?? {} }, null, 2));
  }, [settings.data]);

  const mint = useMutation({
    mutationFn: () => api<Key>(`/v1/admin/tenants/${tenant}/keys`, { method: 'POST', body: { name: 'console' } }),
    onSuccess: (k) => {
      setMinted(k.key ?? null);
      void client.invalidateQueries({ queryKey: ['keys', tenant] });
    },
  });
  const revoke = useMutation({
    mutationFn: (id: string) => api<void>(`/v1/admin/tenants/${tenant}/keys/${id}`, { method: 'DELETE' }),
    onSuccess: () => void client.invalidateQueries({ queryKey: ['keys', tenant] }),
  });
  const save = useMutation({
    mutationFn: () => api<unknown>(`/v1/admin/tenants/${tenant}/settings`, { method: 'PATCH', body: JSON.parse(draft) as unknown }),
    onSuccess: () => {
      setSaved(true);
      void client.invalidateQueries({ queryKey: ['settings', tenant] });
    },
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setSaved(false);
    save.mutate();
  };

  return (
    <div className="stack">
      <h2>{t('admin.keys', { tenant })}</h2>
      <button type="button" onClick={() => mint.mutate()}>
        {t('admin.mint')}
      </button>
      {minted && (
        <div className="card notice" role="status">
          <p>{t('admin.minted')}</p>
          <code className="break" data-testid="minted-key">
            {minted}
          </code>
        </div>
      )}
      <ul className="plain">
        {keys.data?.keys.map((k) => (
          <li key={k.id} className="row spread">
            <span>
              <code>{k.prefix}…</code> {k.name} <span className="muted small">{new Date(k.created_at).toLocaleString()}</span>
            </span>
            <ConfirmButton label={t('admin.revoke')} question={() => t('admin.confirmRevoke', { prefix: k.prefix })} onConfirm={() => revoke.mutate(k.id)} />
          </li>
        ))}
      </ul>
      <h2>{t('admin.providers')}</h2>
      <ProviderTests tenant={tenant} />
      <h2>{t('admin.settings', { tenant })}</h2>
      <form onSubmit={submit} className="stack">
        <textarea value={draft} onChange={(e) => setDraft(e.target.value)} rows={10} spellCheck={false} aria-label={t('admin.settings', { tenant })} />
        <button type="submit">{t('admin.save')}</button>
        {saved && <p role="status">{t('admin.saved')}</p>}
      </form>
      <ErrorNote error={keys.error ?? settings.error ?? mint.error ?? revoke.error ?? save.error} />
    </div>
  );
}

export function Admin() {
  const { t } = useI18n();
  const client = useQueryClient();
  const tenants = useQuery({ queryKey: ['tenants'], queryFn: () => api<{ tenants: Tenant[] }>('/v1/admin/tenants') });
  const [selected, setSelected] = useState<string | null>(null);
  const [id, setId] = useState('');
  const create = useMutation({
    mutationFn: () => api<Tenant>('/v1/admin/tenants', { method: 'POST', body: { id } }),
    onSuccess: (tn) => {
      setId('');
      setSelected(tn.id);
      void client.invalidateQueries({ queryKey: ['tenants'] });
    },
  });
  const remove = useMutation({
    mutationFn: (tn: string) => api<void>(`/v1/admin/tenants/${tn}`, { method: 'DELETE' }),
    onSuccess: () => {
      setSelected(null);
      void client.invalidateQueries({ queryKey: ['tenants'] });
    },
  });
  return (
    <section aria-labelledby="admin-title">
      <h1 id="admin-title">{t('admin.title')}</h1>
      <ErrorNote error={tenants.error ?? create.error ?? remove.error} />
      <div className="columns">
        <div className="column">
          <h2>{t('admin.tenants')}</h2>
          <form
            className="row"
            onSubmit={(e) => {
              e.preventDefault();
              create.mutate();
            }}
          >
            <label className="grow">
              <span className="visually-hidden">{t('admin.newTenant')}</span>
              <input value={id} onChange={(e) => setId(e.target.value)} placeholder={t('admin.newTenant')} required name="tenant-id" />
            </label>
            <button type="submit">{t('admin.create')}</button>
          </form>
          <ul className="plain">
            {tenants.data?.tenants.map((tn) => (
              <li key={tn.id} className="row spread">
                <button type="button" className={`link ${tn.id === selected ? 'selected' : ''}`} onClick={() => setSelected(tn.id)} aria-pressed={tn.id === selected}>
                  {tn.id}
                </button>
                <ConfirmButton label={t('admin.deleteTenant')} question={() => t('admin.confirmDeleteTenant', { tenant: tn.id })} onConfirm={() => remove.mutate(tn.id)} />
              </li>
            ))}
          </ul>
        </div>
        <div className="column wide">{selected && <TenantPanel key={selected} tenant={selected} />}</div>
      </div>
    </section>
  );
}
