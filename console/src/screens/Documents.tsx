import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useEffect, useRef, useState, type ChangeEvent, type DragEvent } from 'react';
import { api, streamUrl, upload, type UploadedDocument } from '../api.ts';
import { fromDrop, fromInput, type PickedFile } from '../files.ts';
import type { MessageKey } from '../i18n.ts';
import { applyTask, attemptsOf, steps, TIMELINE, type DocStatus, type DocumentView, type TaskView } from '../timeline.ts';
import { ErrorNote, formatBytes, Link, ConfirmButton, useI18n } from '../ui.tsx';

const PAGE = 50;

/**
 * The KB's task events over its WebSocket, reconnecting with a fresh ticket after a drop.
 * `onTask` sees every change; `live` says whether the feed is connected.
 */
function useKbEvents(kb: string, onTask: (task: TaskView) => void): boolean {
  const [live, setLive] = useState(false);
  const handler = useRef(onTask);
  handler.current = onTask;
  useEffect(() => {
    let socket: WebSocket | null = null;
    let stopped = false;
    let retry: ReturnType<typeof setTimeout> | undefined;
    let delay = 500;
    const connect = async () => {
      try {
        socket = new WebSocket(await streamUrl(`/v1/kbs/${encodeURIComponent(kb)}/events`, 'ws'));
      } catch {
        if (!stopped) retry = setTimeout(connect, (delay = Math.min(delay * 2, 10_000)));
        return;
      }
      if (stopped) return socket.close();
      socket.onopen = () => {
        delay = 500;
        setLive(true);
      };
      socket.onmessage = (m) => {
        const msg = JSON.parse(String(m.data)) as { type: string; task?: TaskView };
        if (msg.type === 'task' && msg.task) handler.current(msg.task);
      };
      socket.onclose = () => {
        setLive(false);
        if (!stopped) retry = setTimeout(connect, (delay = Math.min(delay * 2, 10_000)));
      };
    };
    void connect();
    return () => {
      stopped = true;
      clearTimeout(retry);
      socket?.close();
    };
  }, [kb]);
  return live;
}

function Timeline({ doc }: { doc: DocumentView }) {
  const { t } = useI18n();
  return (
    <ol className="timeline" aria-label={t('docs.timeline')}>
      {steps(doc.status, doc.stage).map((s) => (
        <li key={s.status} className={`step ${s.state}`} aria-current={s.state === 'current' ? 'step' : undefined}>
          {t(`stage.${s.state === 'failed' ? 'failed' : s.status}` as MessageKey)}
        </li>
      ))}
    </ol>
  );
}

export function Documents({ kb }: { kb: string }) {
  const { t } = useI18n();
  const client = useQueryClient();
  const [status, setStatus] = useState<DocStatus | ''>('');
  const [cursors, setCursors] = useState<string[]>([]);
  const cursor = cursors[cursors.length - 1];
  const [docs, setDocs] = useState<DocumentView[]>([]);
  const seen = useRef(new Map<string, number>());
  const [uploaded, setUploaded] = useState<UploadedDocument[]>([]);
  const [notice, setNotice] = useState('');
  const [dragging, setDragging] = useState(false);

  const key = ['documents', kb, status, cursor ?? ''];
  const list = useQuery({
    queryKey: key,
    queryFn: () =>
      api<{ documents: DocumentView[]; next_cursor: string | null }>(
        `/v1/kbs/${kb}/documents?limit=${PAGE}${status ? `&status=${status}` : ''}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
      ),
  });
  useEffect(() => {
    if (list.data) setDocs(list.data.documents);
  }, [list.data]);

  const live = useKbEvents(kb, (task) => {
    setDocs((current) => {
      const next = applyTask(current, task, seen.current);
      // A document not on this page yet (just uploaded by someone): refresh the page.
      if (next === current && task.document_id && !current.some((d) => d.id === task.document_id)) void client.invalidateQueries({ queryKey: ['documents', kb] });
      return next;
    });
  });

  const send = useMutation({
    mutationFn: (files: PickedFile[]) => upload(kb, files),
    onSuccess: (r) => {
      setUploaded(r.documents);
      void client.invalidateQueries({ queryKey: ['documents', kb] });
    },
  });
  const retry = useMutation({
    mutationFn: (id: string) => api<DocumentView>(`/v1/kbs/${kb}/documents/${id}/retry`, { method: 'POST' }),
    onSuccess: (doc) => setDocs((d) => d.map((x) => (x.id === doc.id ? doc : x))),
  });
  const retryAll = useMutation({
    mutationFn: () => api<{ retried: number }>(`/v1/kbs/${kb}/documents/retry?status=failed`, { method: 'POST' }),
    onSuccess: (r) => {
      setNotice(t('docs.retried', { n: r.retried }));
      void client.invalidateQueries({ queryKey: ['documents', kb] });
    },
  });
  const remove = useMutation({
    mutationFn: (id: string) => api<void>(`/v1/kbs/${kb}/documents/${id}`, { method: 'DELETE' }),
    onSuccess: () => void client.invalidateQueries({ queryKey: ['documents', kb] }),
  });

  /** Files from a picker; the input is emptied so that choosing the same file again uploads it again. */
  const pick = (e: ChangeEvent<HTMLInputElement>) => {
    const files = fromInput(e.target.files);
    e.target.value = '';
    if (files.length > 0) send.mutate(files);
  };
  const onDrop = async (e: DragEvent) => {
    e.preventDefault();
    setDragging(false);
    const files = await fromDrop(e.dataTransfer);
    if (files.length > 0) send.mutate(files);
  };

  return (
    <section aria-labelledby="docs-title">
      <h1 id="docs-title">
        {t('docs.title', { kb })}{' '}
        <span className={`badge ${live ? 'ok' : 'warn'}`} data-testid="live">
          {live ? t('docs.live') : t('docs.offline')}
        </span>
      </h1>
      <div
        className={`dropzone ${dragging ? 'over' : ''}`}
        onDragOver={(e) => {
          e.preventDefault();
          setDragging(true);
        }}
        onDragLeave={() => setDragging(false)}
        onDrop={(e) => void onDrop(e)}
      >
        <p>{t('docs.drop')}</p>
        <div className="row wrap">
          <label className="button">
            {t('docs.chooseFiles')}
            <input type="file" multiple className="visually-hidden" data-testid="pick-files" onChange={pick} />
          </label>
          <label className="button">
            {t('docs.chooseFolder')}
            <input
              type="file"
              multiple
              className="visually-hidden"
              data-testid="pick-folder"
              ref={(el) => el?.setAttribute('webkitdirectory', '')}
              onChange={pick}
            />
          </label>
        </div>
        {send.isPending && <p role="status">{t('docs.uploading', { n: '' })}</p>}
        {uploaded.length > 0 && (
          <ul className="uploaded" role="status">
            {uploaded.map((u) => (
              <li key={u.id}>
                {u.name} {u.duplicate && <span className="badge warn">{t('docs.duplicate')}</span>}
              </li>
            ))}
          </ul>
        )}
      </div>
      <ErrorNote error={send.error ?? retry.error ?? retryAll.error ?? remove.error ?? list.error} />
      <div className="row wrap toolbar">
        <label>
          {t('docs.status')}
          <select
            value={status}
            name="status"
            onChange={(e) => {
              setStatus(e.target.value as DocStatus | '');
              setCursors([]);
            }}
          >
            <option value="">{t('docs.all')}</option>
            {[...TIMELINE, 'failed' as const].map((s) => (
              <option key={s} value={s}>
                {t(`stage.${s}` as MessageKey)}
              </option>
            ))}
          </select>
        </label>
        <button type="button" onClick={() => retryAll.mutate()}>
          {t('docs.retryAll')}
        </button>
        {notice && <span role="status">{notice}</span>}
      </div>
      {docs.length === 0 && list.isSuccess && <p>{t('docs.empty')}</p>}
      <ul className="documents">
        {docs.map((d) => {
          const attempts = attemptsOf(d.error);
          return (
            <li key={d.id} className={`document ${d.status}`} data-testid={`doc-${d.name}`} data-status={d.status}>
              <div className="row wrap spread">
                <strong>{d.name}</strong>
                <span className="muted">
                  {formatBytes(d.bytes)} · {d.chunks} {t('kbs.chunks')}
                </span>
              </div>
              <Timeline doc={d} />
              {d.error && (
                <p className={d.status === 'failed' ? 'error' : 'muted'}>
                  {attempts && `${attempts.attempt}/${attempts.of} ${t('docs.attempts')} · `}
                  {t('docs.lastError')}: {d.error}
                </p>
              )}
              <div className="row actions">
                <Link to={`/kbs/${kb}/documents/${d.id}`}>{t('docs.inspect')}</Link>
                {d.status === 'failed' && (
                  <button type="button" onClick={() => retry.mutate(d.id)}>
                    {t('docs.retry')}
                  </button>
                )}
                <ConfirmButton label={t('docs.delete')} question={() => t('docs.confirmDelete', { name: d.name })} onConfirm={() => remove.mutate(d.id)} />
              </div>
            </li>
          );
        })}
      </ul>
      <div className="row">
        {cursors.length > 0 && (
          <button type="button" onClick={() => setCursors([])}>
            {t('docs.first')}
          </button>
        )}
        {list.data?.next_cursor && (
          <button type="button" onClick={() => setCursors((c) => [...c, list.data!.next_cursor!])}>
            {t('docs.next')}
          </button>
        )}
      </div>
    </section>
  );
}
