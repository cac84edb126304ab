import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { api, type Kb } from '../api.ts';
import { ConfirmButton, ErrorNote, Link, useI18n } from '../ui.tsx';

interface KbStats {
  documents: Record<string, number>;
  chunks: number;
}

const total = (s: KbStats | undefined) => (s ? Object.values(s.documents).reduce((a, b) => a + b, 0) : 0);

function KbRow({ kb, onDelete }: { kb: Kb; onDelete(kb: string): void }) {
  const { t } = useI18n();
  const stats = useQuery({ queryKey: ['kb-stats', kb.id], queryFn: () => api<KbStats>(`/v1/kbs/${kb.id}/stats`), refetchInterval: 5000 });
  return (
    <tr>
      <td>
        <Link to={`/kbs/${kb.id}/documents`}>{kb.id}</Link>
      </td>
      <td>{kb.name}</td>
      <td>
        <code>{kb.embedder}</code>
      </td>
      <td className="num" data-testid={`kb-docs-${kb.id}`}>
        {stats.data ? total(stats.data) : '…'}
      </td>
      <td className="num">{stats.data?.chunks ?? '…'}</td>
      <td>{new Date(kb.created_at).toLocaleString()}</td>
      <td className="actions">
        <Link to={`/kbs/${kb.id}/chat`}>{t('nav.chat')}</Link>
        <Link to={`/kbs/${kb.id}/lab`}>{t('nav.lab')}</Link>
        <ConfirmButton
          label={t('kbs.delete')}
          question={() => t('kbs.confirmDelete', { kb: kb.id, documents: total(stats.data), chunks: stats.data?.chunks ?? 0 })}
          onConfirm={() => onDelete(kb.id)}
        />
      </td>
    </tr>
  );
}

export function Kbs() {
  const { t } = useI18n();
  const client = useQueryClient();
  const kbs = useQuery({ queryKey: ['kbs'], queryFn: () => api<{ kbs: Kb[] }>('/v1/kbs') });
  const [id, setId] = useState('');
  const [name, setName] = useState('');
  const create = useMutation({
    mutationFn: () => api<Kb>('/v1/kbs', { method: 'POST', body: { id, ...(name ? { name } : {}) } }),
    onSuccess: () => {
      setId('');
      setName('');
      void client.invalidateQueries({ queryKey: ['kbs'] });
    },
  });
  const remove = useMutation({
    mutationFn: (kb: string) => api<void>(`/v1/kbs/${kb}`, { method: 'DELETE' }),
    onSuccess: () => void client.invalidateQueries({ queryKey: ['kbs'] }),
  });
  const onDelete = (kb: string) => remove.mutate(kb);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    create.mutate();
  };
  return (
    <section aria-labelledby="kbs-title">
      <h1 id="kbs-title">{t('kbs.title')}</h1>
      <form onSubmit={submit} className="row wrap card">
        <label>
          {t('kbs.id')}
          <input value={id} onChange={(e) => setId(e.target.value)} required pattern="[A-Za-z0-9][A-Za-z0-9_-]{0,63}" name="kb-id" />
        </label>
        <label>
          {t('kbs.name')}
          <input value={name} onChange={(e) => setName(e.target.value)} name="kb-name" />
        </label>
        <button type="submit" disabled={create.isPending}>
          {t('kbs.create')}
        </button>
      </form>
      <ErrorNote error={create.error ?? remove.error ?? kbs.error} />
      {kbs.data && kbs.data.kbs.length === 0 && <p>{t('kbs.empty')}</p>}
      {kbs.data && kbs.data.kbs.length > 0 && (
        <div className="scroll">
          <table>
            <thead>
              <tr>
                <th>{t('kbs.id')}</th>
                <th>{t('kbs.name')}</th>
                <th>{t('kbs.embedder')}</th>
                <th>{t('kbs.documents')}</th>
                <th>{t('kbs.chunks')}</th>
                <th>{t('kbs.created')}</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {kbs.data.kbs.map((kb) => (
                <KbRow key={kb.id} kb={kb} onDelete={onDelete} />
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
