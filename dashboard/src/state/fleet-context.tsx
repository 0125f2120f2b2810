// Holds the fleet state for every page and keeps the event stream open
// while someone is signed in.

import { createContext, useContext, useEffect, useReducer, useState, type ReactNode } from 'react';
import { openEventStream, type StreamState } from '../api/events';
import type { Board } from '../api/types';
import { useAuth } from './auth';
import { emptyFleet, fleetReducer, type FleetState } from './fleet';

interface Fleet {
  state: FleetState;
  stream: StreamState;
  /** Boards the platform knows (GET /boards), empty until loaded. */
  boards: Board[];
  boardsError: string | null;
}

const FleetContext = createContext<Fleet | null>(null);

export function FleetProvider({ children }: { children: ReactNode }) {
  const { api, signOut } = useAuth();
  const [state, dispatch] = useReducer(fleetReducer, emptyFleet);
  const [stream, setStream] = useState<StreamState>({ kind: 'connecting' });
  const [boards, setBoards] = useState<Board[]>([]);
  const [boardsError, setBoardsError] = useState<string | null>(null);

  useEffect(
    () =>
      openEventStream(api, {
        onEvent: (event) => dispatch({ event, atMs: Date.now() }),
        onState: (s) => {
          setStream(s);
          if (s.kind === 'refused' && s.error.status === 401) signOut(s.error.message);
        },
      }),
    [api, signOut],
  );

  useEffect(() => {
    api.boards().then(setBoards, (e: Error) => setBoardsError(e.message));
  }, [api]);

  return <FleetContext.Provider value={{ state, stream, boards, boardsError }}>{children}</FleetContext.Provider>;
}

export function useFleet(): Fleet {
  const f = useContext(FleetContext);
  if (!f) throw new Error('useFleet outside FleetProvider');
  return f;
}

/** The current time, advancing every `everyMs`, for "seen 5 s ago" labels. */
export function useNow(everyMs = 1000): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), everyMs);
    return () => clearInterval(t);
  }, [everyMs]);
  return now;
}
