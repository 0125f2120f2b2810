// Who is signed in: the token (kept in this tab, or in this browser when
// asked), checked with /auth/whoami, and the role it carries.

import { createContext, useCallback, useContext, useMemo, useState, type ReactNode } from 'react';
import { Api, ApiError } from '../api/client';
import type { Role, WhoAmI } from '../api/types';

const KEY = 'wasmbed.token';

function storedToken(): string | null {
  return sessionStorage.getItem(KEY) ?? localStorage.getItem(KEY);
}

interface Auth {
  api: Api;
  me: WhoAmI | null;
  /** Checks the token with the platform and keeps it; throws the platform's reason when refused. */
  signIn: (token: string, remember: boolean) => Promise<void>;
  signOut: (reason?: string) => void;
  /** Why the last session ended, shown on the sign-in page. */
  signedOutReason: string | null;
  /** The caller's role is at least `role`. */
  can: (role: Role) => boolean;
}

const AuthContext = createContext<Auth | null>(null);

const RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };

export function AuthProvider({ initial, children }: { initial: Restored; children: ReactNode }) {
  const [me, setMe] = useState<WhoAmI | null>(initial.me);
  const [reason, setReason] = useState<string | null>(initial.reason);
  // The token is read at each request, so signing in or out needs no new client.
  const api = useMemo(() => new Api(storedToken), []);

  const signIn = useCallback(
    async (token: string, remember: boolean) => {
      const probe = new Api(() => token);
      const who = await probe.whoami();
      sessionStorage.setItem(KEY, token);
      if (remember) localStorage.setItem(KEY, token);
      else localStorage.removeItem(KEY);
      setReason(null);
      setMe(who);
    },
    [],
  );
  const signOut = useCallback((why?: string) => {
    sessionStorage.removeItem(KEY);
    localStorage.removeItem(KEY);
    setReason(why ?? null);
    setMe(null);
  }, []);
  const can = useCallback((role: Role) => (me ? RANK[me.role] >= RANK[role] : false), [me]);

  const value = useMemo(
    () => ({ api, me, signIn, signOut, signedOutReason: reason, can }),
    [api, me, signIn, signOut, reason, can],
  );
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): Auth {
  const a = useContext(AuthContext);
  if (!a) throw new Error('useAuth outside AuthProvider');
  return a;
}

export interface Restored {
  me: WhoAmI | null;
  /** Why the kept token could not be used, for the sign-in page. */
  reason: string | null;
}

/**
 * On page load: the kept token's identity. A refused token is forgotten; a
 * platform that cannot be reached leaves it kept, for the next attempt.
 */
export async function restoreSession(): Promise<Restored> {
  const t = storedToken();
  if (!t) return { me: null, reason: null };
  try {
    return { me: await new Api(() => t).whoami(), reason: null };
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      sessionStorage.removeItem(KEY);
      localStorage.removeItem(KEY);
      return { me: null, reason: `Signed out: ${e.message}` };
    }
    return { me: null, reason: e instanceof Error ? e.message : String(e) };
  }
}
