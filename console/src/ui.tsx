import { createContext, useCallback, useContext, useEffect, useRef, useState, type ReactNode } from 'react';
import { ApiError, documentFile } from './api.ts';
import { pdfPageUrl } from './chunk-text.ts';
import { detectLang, errorText, translate, type Lang, type MessageKey } from './i18n.ts';

/** Language, router and small shared widgets. */

// ---- language ---------------------------------------------------------------------------------

const LANG = 'ragd.lang';

interface I18n {
  lang: Lang;
  setLang(lang: Lang): void;
  t(key: MessageKey, vars?: Record<string, string | number>): string;
  err(error: unknown): string;
}

const I18nContext = createContext<I18n | null>(null);

export function I18nProvider({ children }: { children: ReactNode }) {
  const [lang, setLangState] = useState<Lang>(() => (sessionStorage.getItem(LANG) as Lang | null) ?? detectLang(navigator.languages));
  useEffect(() => {
    document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
    document.title = translate(lang, 'app.title');
  }, [lang]);
  const setLang = useCallback((l: Lang) => {
    sessionStorage.setItem(LANG, l);
    setLangState(l);
  }, []);
  const t = useCallback((key: MessageKey, vars?: Record<string, string | number>) => translate(lang, key, vars), [lang]);
  const err = useCallback(
    (e: unknown) => translate(lang, 'common.error', { message: e instanceof ApiError ? errorText(lang, e.code, e.message) : String((e as Error)?.message ?? e) }),
    [lang],
  );
  return <I18nContext.Provider value={{ lang, setLang, t, err }}>{children}</I18nContext.Provider>;
}

export function useI18n(): I18n {
  return useContext(I18nContext)!;
}

// ---- routing (History API; the server answers every console path with index.html) --------------

export function usePath(): [string, URLSearchParams] {
  const [loc, setLoc] = useState(() => location.pathname + location.search);
  useEffect(() => {
    const update = () => setLoc(location.pathname + location.search);
    addEventListener('popstate', update);
    addEventListener('ragd:navigate', update);
    return () => {
      removeEventListener('popstate', update);
      removeEventListener('ragd:navigate', update);
    };
  }, []);
  const url = new URL(loc, location.origin);
  return [url.pathname, url.searchParams];
}

export function navigate(to: string): void {
  history.pushState(null, '', to);
  dispatchEvent(new Event('ragd:navigate'));
}

export function Link({ to, children, className, current }: { to: string; children: ReactNode; className?: string; current?: boolean }) {
  return (
    <a
      href={to}
      className={className}
      aria-current={current ? 'page' : undefined}
      onClick={(e) => {
        if (e.metaKey || e.ctrlKey || e.shiftKey || e.button !== 0) return;
        e.preventDefault();
        navigate(to);
      }}
    >
      {children}
    </a>
  );
}

// ---- widgets ----------------------------------------------------------------------------------

export function ErrorNote({ error }: { error: unknown }) {
  const { err } = useI18n();
  if (!error) return null;
  return (
    <p className="error" role="alert">
      {err(error)}
    </p>
  );
}

/** A modal confirmation on the native <dialog>: focus is trapped and Escape cancels. */
export function useConfirm(): [(message: string) => Promise<boolean>, ReactNode] {
  const { t } = useI18n();
  const ref = useRef<HTMLDialogElement>(null);
  const [message, setMessage] = useState('');
  const resolver = useRef<((ok: boolean) => void) | null>(null);
  const ask = useCallback((m: string) => {
    setMessage(m);
    return new Promise<boolean>((resolve) => {
      resolver.current = resolve;
      queueMicrotask(() => ref.current?.showModal());
    });
  }, []);
  const finish = (ok: boolean) => {
    ref.current?.close();
    resolver.current?.(ok);
    resolver.current = null;
  };
  const dialog = (
    <dialog ref={ref} className="confirm" onCancel={() => finish(false)} aria-labelledby="confirm-message">
      <p id="confirm-message">{message}</p>
      <div className="row">
        <button type="button" onClick={() => finish(false)} autoFocus>
          {t('common.cancel')}
        </button>
        <button type="button" className="danger" onClick={() => finish(true)}>
          {t('common.confirm')}
        </button>
      </div>
    </dialog>
  );
  return [ask, dialog];
}

/** A destructive action behind a confirmation that names what it destroys. */
export function ConfirmButton({ label, question, onConfirm }: { label: string; question: () => string; onConfirm(): void }) {
  const [confirm, dialog] = useConfirm();
  return (
    <>
      <button
        type="button"
        className="danger"
        onClick={async () => {
          if (await confirm(question())) onConfirm();
        }}
      >
        {label}
      </button>
      {dialog}
    </>
  );
}

export const formatBytes = (n: number) => (n < 1024 ? `${n} B` : n < 1048576 ? `${(n / 1024).toFixed(1)} KB` : `${(n / 1048576).toFixed(1)} MB`);

/** How long a PDF's blob: URL stays valid: long enough for the new tab to load it. */
const BLOB_URL_MS = 60_000;

/**
 * "Open page N" of a PDF: fetches the stored file with our credential and opens it at that page in
 * a new tab (a blob: URL with #page=N, read by the browser's PDF viewer).
 */
export function OpenPage({ kb, id, page }: { kb: string; id: string; page: number }) {
  const { t } = useI18n();
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const open = async () => {
    // The tab is opened now, inside the click: one opened after an await is a blocked popup.
    const tab = window.open('', '_blank');
    if (tab) tab.opener = null;
    setBusy(true);
    setError(null);
    try {
      const file = await documentFile(kb, id);
      const url = URL.createObjectURL(new Blob([file], { type: 'application/pdf' }));
      setTimeout(() => URL.revokeObjectURL(url), BLOB_URL_MS);
      if (tab) tab.location.href = pdfPageUrl(url, page);
      else window.location.assign(pdfPageUrl(url, page));
    } catch (e) {
      tab?.close();
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      <button type="button" className="link small" onClick={() => void open()} disabled={busy} data-testid="open-page">
        {t('inspect.openPage', { page })}
      </button>
      <ErrorNote error={error} />
    </>
  );
}
