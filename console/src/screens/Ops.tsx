import { useQuery } from '@tanstack/react-query';
import type { ReactNode } from 'react';
import { api } from '../api.ts';
import type { MessageKey } from '../i18n.ts';
import { ErrorNote, useI18n } from '../ui.tsx';

interface Ops {
  requests: { count: number; p50_ms: number | null; p99_ms: number | null };
  event_loop: { delay_p50_ms: number; delay_p99_ms: number; delay_max_ms: number };
  queue: Record<string, { waiting: number; active: number; failed: number }>;
  providers: { name: string; calls: number; retries: number; failures: number; in_flight: number; queued: number; breaker: string }[];
  caches: { name: string; hits: number; misses: number; hit_rate: number | null }[];
  documents: Record<string, number>;
}

/** A titled card of label → value rows. */
function Card({ title, empty = null, children }: { title: string; empty?: string | null; children: [ReactNode, ReactNode][] }) {
  return (
    <div className="card">
      <h2>{title}</h2>
      {empty && <p className="muted">{empty}</p>}
      <table>
        <tbody>
          {children.map(([label, value], i) => (
            <tr key={i}>
              <th scope="row">{label}</th>
              <td>{value}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

const fmt = (n: number | null) => (n === null ? '—' : `${n} ms`);

/** Live from GET /v1/ops, every two seconds. */
export function OpsPanel() {
  const { t } = useI18n();
  const ops = useQuery({ queryKey: ['ops'], queryFn: () => api<Ops>('/v1/ops'), refetchInterval: 2000 });
  const o = ops.data;
  return (
    <section aria-labelledby="ops-title">
      <h1 id="ops-title">{t('ops.title')}</h1>
      <ErrorNote error={ops.error} />
      {o && (
        <div className="grid">
          <div className="card stat" data-testid="ops-requests">
            <h2>{t('ops.requests')}</h2>
            <p className="big">{o.requests.count}</p>
            <p>
              {t('ops.p50')} {fmt(o.requests.p50_ms)} · {t('ops.p99')} {fmt(o.requests.p99_ms)}
            </p>
          </div>
          <div className="card stat">
            <h2>{t('ops.loop')}</h2>
            <p className="big">{fmt(o.event_loop.delay_p99_ms)}</p>
            <p>
              {t('ops.p50')} {fmt(o.event_loop.delay_p50_ms)} · max {fmt(o.event_loop.delay_max_ms)}
            </p>
          </div>
          <div className="card">
            <h2>{t('ops.queue')}</h2>
            <table>
              <thead>
                <tr>
                  <th />
                  <th>{t('ops.waiting')}</th>
                  <th>{t('ops.active')}</th>
                  <th>{t('ops.failed')}</th>
                </tr>
              </thead>
              <tbody>
                {Object.entries(o.queue).map(([stage, c]) => (
                  <tr key={stage}>
                    <th scope="row">{stage}</th>
                    <td className="num">{c.waiting}</td>
                    <td className="num">{c.active}</td>
                    <td className="num">{c.failed}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <Card title={t('ops.providers')} empty={o.providers.length === 0 ? t('ops.none') : null}>
            {o.providers.map((p) => [
              p.name,
              <>
                {p.calls} {t('ops.calls')} · {p.retries} {t('ops.retries')} · {p.failures} {t('ops.failures')}{' '}
                <span className={`badge ${p.breaker === 'closed' ? 'ok' : 'warn'}`}>
                  {t('ops.breaker')} {p.breaker}
                </span>
              </>,
            ])}
          </Card>
          <Card title={t('ops.caches')}>
            {o.caches.map((c) => [c.name, `${t('ops.hitRate')} ${c.hit_rate === null ? '—' : `${Math.round(c.hit_rate * 100)}%`} (${c.hits}/${c.hits + c.misses})`])}
          </Card>
          <Card title={t('ops.documents')}>{Object.entries(o.documents).map(([status, n]) => [t(`stage.${status}` as MessageKey), n])}</Card>
        </div>
      )}
    </section>
  );
}
