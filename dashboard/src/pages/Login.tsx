import { useState, type FormEvent } from 'react';
import { ErrorBanner, useAction } from '../components/common';
import { CheckField, TextField } from '../components/fields';
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
        <TextField
          label="API token"
          type="password"
          name="token"
          autoComplete="off"
          spellCheck={false}
          placeholder="wbt_…"
          value={token}
          onValue={setToken}
          required
        />
        <CheckField label="Keep me signed in on this browser" checked={remember} onChecked={setRemember} />
        <button type="submit" className="primary" disabled={busy || token.trim() === ''}>
          {busy ? 'Checking…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
