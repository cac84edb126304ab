import { useState, type FormEvent } from 'react';
import { useI18n } from '../ui.tsx';

export function SignIn({ onSubmit, refused }: { onSubmit(key: string): void; refused: boolean }) {
  const { t } = useI18n();
  const [key, setKey] = useState('');
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (key.trim()) onSubmit(key.trim());
  };
  return (
    <section className="card narrow" aria-labelledby="signin-title">
      <h1 id="signin-title">{t('signin.title')}</h1>
      <p>{t('signin.intro')}</p>
      <form onSubmit={submit} className="stack">
        <label>
          {t('signin.key')}
          <input type="password" autoComplete="off" value={key} onChange={(e) => setKey(e.target.value)} required autoFocus name="key" />
        </label>
        {refused && (
          <p className="error" role="alert">
            {t('signin.invalid')}
          </p>
        )}
        <button type="submit">{t('signin.submit')}</button>
      </form>
    </section>
  );
}
