import { useInfiniteQuery, useQuery } from '@tanstack/react-query';
import { useEffect, useState } from 'react';
import { api, type Chunk } from '../api.ts';
import { joinChunks } from '../chunk-text.ts';
import type { DocumentView } from '../timeline.ts';
import { ErrorNote, formatBytes, OpenPage, useI18n } from '../ui.tsx';

interface ChunkPage {
  chunks: Chunk[];
  next_after: number | null;
}

/**
 * Metadata, then the document as its chunks in order (where the chunker cut it) or as one text put
 * back together from them (the parser's output is deleted once the document is indexed).
 */
export function Inspector({ kb, id, focus }: { kb: string; id: string; focus: string | null }) {
  const { t } = useI18n();
  const doc = useQuery({ queryKey: ['document', kb, id], queryFn: () => api<DocumentView>(`/v1/kbs/${kb}/documents/${id}`) });
  const chunks = useInfiniteQuery({
    queryKey: ['chunks', kb, id],
    initialPageParam: -1,
    queryFn: ({ pageParam }) => api<ChunkPage>(`/v1/kbs/${kb}/documents/${id}/chunks?limit=100&after=${pageParam}`),
    getNextPageParam: (last) => last.next_after ?? undefined,
  });
  const all = chunks.data?.pages.flatMap((p) => p.chunks) ?? [];
  const found = focus !== null && all.some((c) => c.id === focus);
  const [view, setView] = useState<'chunks' | 'text'>('chunks');
  // The text view is the whole document: load every page of chunks.
  useEffect(() => {
    if (view === 'text' && chunks.hasNextPage && !chunks.isFetchingNextPage) void chunks.fetchNextPage();
  }, [view, chunks.hasNextPage, chunks.isFetchingNextPage]);
  // A citation opens its chunk: load pages until it is there, then bring it into view.
  useEffect(() => {
    if (focus === null) return;
    if (found) document.getElementById(`chunk-${focus}`)?.scrollIntoView({ block: 'center' });
    else if (chunks.hasNextPage && !chunks.isFetchingNextPage) void chunks.fetchNextPage();
  }, [focus, found, chunks.hasNextPage, chunks.isFetchingNextPage]);

  const d = doc.data;
  return (
    <section aria-labelledby="doc-title">
      <h1 id="doc-title">
        {t('inspect.title')}: {d?.name ?? id}
      </h1>
      <ErrorNote error={doc.error ?? chunks.error} />
      {d && (
        <dl className="meta card">
          <dt>{t('inspect.type')}</dt>
          <dd>{d.type}</dd>
          <dt>{t('docs.status')}</dt>
          <dd>{t(`stage.${d.status}`)}</dd>
          <dt>{t('docs.size')}</dt>
          <dd>{formatBytes(d.bytes)}</dd>
          <dt>{t('kbs.chunks')}</dt>
          <dd>{d.chunks}</dd>
          <dt>{t('inspect.hash')}</dt>
          <dd>
            <code className="break">{d.content_hash}</code>
          </dd>
          <dt>{t('inspect.metadata')}</dt>
          <dd>
            <code className="break">{JSON.stringify(d.metadata)}</code>
          </dd>
          {d.error && (
            <>
              <dt>{t('docs.lastError')}</dt>
              <dd className="error">{d.error}</dd>
            </>
          )}
        </dl>
      )}
      <div className="row" role="group" aria-label={t('inspect.view')}>
        {(['chunks', 'text'] as const).map((v) => (
          <button key={v} type="button" className={`link ${view === v ? 'selected' : ''}`} aria-pressed={view === v} onClick={() => setView(v)}>
            {t(`inspect.${v}`)}
          </button>
        ))}
      </div>
      {view === 'text' ? (
        <>
          <p className="muted small">{t('inspect.textNote')}</p>
          <p className="chunk-text card" data-testid="document-text">
            {joinChunks(all).map((p) => (
              <span key={p.chunk}>
                {p.sep}
                {p.chunk > 0 && <span className="chunk-start" title={`#${p.chunk + 1}`} aria-hidden="true" />}
                {p.text}
              </span>
            ))}
          </p>
        </>
      ) : (
        <ol className="chunks">
          {all.map((c) => (
            <li key={c.id} id={`chunk-${c.id}`} className={`chunk card ${c.id === focus ? 'focus' : ''}`} data-testid="chunk" tabIndex={c.id === focus ? -1 : undefined}>
              <div className="muted small">
                #{c.ordinal + 1}
                {c.heading_path.length > 0 && ` · ${t('inspect.heading')}: ${c.heading_path.join(' › ')}`}
                {c.page !== null && ` · ${t('inspect.page')} ${c.page}`} · {t('inspect.tokens')} {c.token_count}
                {d?.type === 'pdf' && c.page !== null && (
                  <>
                    {' · '}
                    <OpenPage kb={kb} id={id} page={c.page} />
                  </>
                )}
              </div>
              <p className="chunk-text">{c.text}</p>
            </li>
          ))}
        </ol>
      )}
      {view === 'chunks' && chunks.hasNextPage && (
        <button type="button" onClick={() => void chunks.fetchNextPage()} disabled={chunks.isFetchingNextPage}>
          {t('inspect.more')}
        </button>
      )}
    </section>
  );
}
