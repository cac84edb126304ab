import { useMutation } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { api, type QueryResult, type RankedAt } from '../api.ts';
import { labRequest, MODES } from '../lab-request.ts';
import { ErrorNote, Link, useI18n } from '../ui.tsx';


const show = (r: RankedAt | null) => (r ? `#${r.rank} (${r.score.toFixed(4)})` : '—');

export function Lab({ kb }: { kb: string }) {
  const { t } = useI18n();
  const [query, setQuery] = useState('');
  const [topK, setTopK] = useState(5);
  const [docIds, setDocIds] = useState('');
  const [metadata, setMetadata] = useState('');
  const [badMeta, setBadMeta] = useState(false);
  const run = useMutation({
    mutationFn: (bodies: Record<string, unknown>[]) =>
      Promise.all(bodies.map((body) => api<QueryResult>(`/v1/kbs/${kb}/query`, { method: 'POST', body }))),
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    try {
      const bodies = MODES.map((m) => labRequest(query, m, topK, docIds, metadata));
      setBadMeta(false);
      run.mutate(bodies);
    } catch {
      setBadMeta(true);
    }
  };
  return (
    <section aria-labelledby="lab-title">
      <h1 id="lab-title">{t('lab.title')}</h1>
      <form onSubmit={submit} className="card stack">
        <label>
          {t('lab.query')}
          <input value={query} onChange={(e) => setQuery(e.target.value)} required name="query" />
        </label>
        <div className="row wrap">
          <label>
            {t('lab.topK')}
            <input type="number" min={1} max={50} value={topK} onChange={(e) => setTopK(Number(e.target.value))} name="top_k" />
          </label>
          <label className="grow">
            {t('lab.filterDocs')}
            <input value={docIds} onChange={(e) => setDocIds(e.target.value)} name="document_ids" />
          </label>
          <label className="grow">
            {t('lab.filterMeta')}
            <input value={metadata} onChange={(e) => setMetadata(e.target.value)} name="metadata" placeholder='{"lang": "zh"}' />
          </label>
        </div>
        {badMeta && (
          <p className="error" role="alert">
            {t('lab.badMeta')}
          </p>
        )}
        <button type="submit" disabled={run.isPending}>
          {t('lab.run')}
        </button>
      </form>
      <ErrorNote error={run.error} />
      {run.data && (
        <div className="columns">
          {run.data.map((r, i) => (
            <div key={MODES[i]} className="column" data-testid={`lab-${MODES[i]}`}>
              <h2>{t(`lab.${MODES[i]!}`)}</h2>
              <p className="muted small">{t('lab.timings', r.timings_ms)}</p>
              {r.notice && <p className="notice">{r.notice}</p>}
              {r.citations.length === 0 && <p>{t('lab.noHits')}</p>}
              <ol className="hits">
                {r.citations.map((c, j) => {
                  const x = r.explain?.[j];
                  return (
                    <li key={c.chunk_id} className="card hit">
                      <div className="row spread">
                        <Link to={`/kbs/${kb}/documents/${c.document_id}?chunk=${c.chunk_id}`}>{c.document_name}</Link>
                        <span className="muted">
                          {t('lab.score')} {c.score.toFixed(4)}
                        </span>
                      </div>
                      <p className="snippet">{c.text.slice(0, 240)}</p>
                      {x && (
                        <dl className="ranks small">
                          <dt>{t('lab.lexical')}</dt>
                          <dd>{show(x.lexical)}</dd>
                          <dt>{t('lab.vector')}</dt>
                          <dd>{show(x.vector)}</dd>
                          <dt>{t('lab.fused')}</dt>
                          <dd>{show(x.fused)}</dd>
                          {x.rerank && (
                            <>
                              <dt>{t('lab.rerank')}</dt>
                              <dd>{show(x.rerank)}</dd>
                            </>
                          )}
                        </dl>
                      )}
                    </li>
                  );
                })}
              </ol>
            </div>
          ))}
        </div>
      )}
    </section>
  );
}
