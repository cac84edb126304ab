import { useEffect, useRef, useState, type FormEvent } from 'react';
import { stream, type Citation } from '../api.ts';
import { loadConversation, saveConversation, splitCitations, type Turn } from '../conversation.ts';
import { readSse } from '../sse.ts';
import { Link, OpenPage, useI18n } from '../ui.tsx';

function Chip({ kb, n, c }: { kb: string; n: number; c: Citation }) {
  const { t } = useI18n();
  return (
    <Link to={`/kbs/${kb}/documents/${c.document_id}?chunk=${c.chunk_id}`} className="chip">
      <span aria-label={t('chat.citation', { n, name: c.document_name })}>{n}</span>
    </Link>
  );
}

function Answer({ kb, turn }: { kb: string; turn: Turn }) {
  const { t } = useI18n();
  const citations = turn.citations ?? [];
  return (
    <div className="answer">
      {(turn.pending ?? 0) > 0 && <p className="notice">{t('chat.pending', { n: turn.pending! })}</p>}
      <p className="answer-text" data-testid="answer">
        {splitCitations(turn.text, citations.length).map((part, i) =>
          typeof part === 'number' ? <Chip key={i} kb={kb} n={part} c={citations[part - 1]!} /> : <span key={i}>{part}</span>,
        )}
      </p>
      {turn.error && <p className="error">{turn.error}</p>}
      <div className="row wrap small">
        {turn.cached && <span className="badge ok">{t('chat.cached')}</span>}
        {turn.stopped && <span className="badge warn">{t('chat.stopped')}</span>}
        {turn.kind === 'extractive' && <span className="badge">{t('chat.extractive')}</span>}
      </div>
      {citations.length > 0 && (
        <ol className="sources small">
          {citations.map((c, i) => (
            <li key={c.chunk_id}>
              <Chip kb={kb} n={i + 1} c={c} /> {c.document_name}
              {c.page !== null && ` · ${t('chat.page', { page: c.page })}`}
              {c.page !== null && /\.pdf$/i.test(c.document_name) && (
                <>
                  {' · '}
                  <OpenPage kb={kb} id={c.document_id} page={c.page} />
                </>
              )}
            </li>
          ))}
        </ol>
      )}
    </div>
  );
}

export function Chat({ kb }: { kb: string }) {
  const { t, err } = useI18n();
  const [turns, setTurns] = useState<Turn[]>(() => loadConversation(localStorage, kb));
  const [question, setQuestion] = useState('');
  const controller = useRef<AbortController | null>(null);
  const [busy, setBusy] = useState(false);
  const end = useRef<HTMLDivElement>(null);

  useEffect(() => setTurns(loadConversation(localStorage, kb)), [kb]);
  useEffect(() => {
    if (!busy) saveConversation(localStorage, kb, turns);
    end.current?.scrollIntoView({ block: 'end' });
  }, [turns, busy, kb]);
  useEffect(() => () => controller.current?.abort(), []);

  /** Updates the answer being streamed (the last turn). */
  const patch = (p: Partial<Turn> | ((turn: Turn) => Partial<Turn>)) =>
    setTurns((all) => {
      const last = all[all.length - 1]!;
      return [...all.slice(0, -1), { ...last, ...(typeof p === 'function' ? p(last) : p) }];
    });

  const ask = async (e: FormEvent) => {
    e.preventDefault();
    const q = question.trim();
    if (!q || busy) return;
    setQuestion('');
    setTurns((all) => [...all, { role: 'user', text: q }, { role: 'assistant', text: '' }]);
    const c = (controller.current = new AbortController());
    setBusy(true);
    try {
      const res = await stream(`/v1/kbs/${kb}/query`, { query: q, stream: true }, c.signal);
      for await (const ev of readSse(res.body!)) {
        const data = JSON.parse(ev.data) as Record<string, unknown>;
        if (ev.event === 'context') patch({ citations: data.citations as Citation[], pending: data.pending_documents as number, cached: data.cached as boolean });
        else if (ev.event === 'token') patch((turn) => ({ text: turn.text + (data.text as string) }));
        else if (ev.event === 'done') patch({ text: (data.answer as string | null) ?? '', cached: data.cached as boolean, kind: data.answer_kind as Turn['kind'] });
        else if (ev.event === 'error') patch({ error: String(data.message) });
      }
    } catch (error) {
      if (c.signal.aborted) patch({ stopped: true });
      else patch({ error: err(error) });
    } finally {
      controller.current = null;
      setBusy(false);
    }
  };

  return (
    <section aria-labelledby="chat-title" className="chat">
      <div className="row spread">
        <h1 id="chat-title">{t('chat.title', { kb })}</h1>
        <button type="button" onClick={() => setTurns([])} disabled={busy}>
          {t('chat.clear')}
        </button>
      </div>
      <div className="turns" aria-live="polite">
        {turns.map((turn, i) =>
          turn.role === 'user' ? (
            <p key={i} className="question">
              {turn.text}
            </p>
          ) : (
            <Answer key={i} kb={kb} turn={turn} />
          ),
        )}
        <div ref={end} />
      </div>
      <form onSubmit={(e) => void ask(e)} className="row ask">
        <label className="grow">
          <span className="visually-hidden">{t('chat.placeholder')}</span>
          <input value={question} onChange={(e) => setQuestion(e.target.value)} placeholder={t('chat.placeholder')} name="question" />
        </label>
        {busy ? (
          <button type="button" className="danger" onClick={() => controller.current?.abort()}>
            {t('chat.stop')}
          </button>
        ) : (
          <button type="submit">{t('chat.send')}</button>
        )}
      </form>
    </section>
  );
}
