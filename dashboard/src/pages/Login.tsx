import { useState, type FormEvent } from 'react';
import { ErrorBanner, useAction } from '../components/common';
import { useAuth } from '../state/auth';

export function Login() {
  const { signIn, signedOutReason } = useAuth();
  const [token, setToken] = useState('');
  const [remember, setRemember] = useState(false);
  const { run, busy, error } = useAction();

  const submit = (e: FormEvent) => {
    e.preventDefault();
    void run(() => signIn(token.trim(), remember));
  };

  return (
    <main className="login">
      <form className="card" onSubmit={submit} aria-labelledby="login-title">
        <h1 id="login-title">Sign in to Wasmbed</h1>
        <p>
          On its first start <code>wasmbed up</code> prints an admin token once, as <code>admin token: wbt_…</code>. Paste it
          here, or a token an admin created for you.
        </p>
        <ErrorBanner error={error ?? signedOutReason} />
        <label>
          API token
          <input
            type="password"
            name="token"
            autoComplete="off"
            spellCheck={false}
            placeholder="wbt_…"
            value={token}
            onChange={(e) => setToken(e.target.value)}
            required
          />
        </label>
        <label className="check">
          <input type="checkbox" checked={remember} onChange={(e) => setRemember(e.target.checked)} />
          Keep me signed in on this browser
        </label>
        <button type="submit" className="primary" disabled={busy || token.trim() === ''}>
          {busy ? 'Checking…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
