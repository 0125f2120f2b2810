// Holds the fleet state for every page and keeps the event stream open
// while someone is signed in. Resource events go into the fleet state;
// telemetry samples go to the charts through the telemetry feed.

import { createContext, useContext, useEffect, useMemo, useReducer, useState, type ReactNode } from 'react';
import { openEventStream, type StreamState } from '../api/events';
import type { Board } from '../api/types';
import { useAuth } from './auth';
import { emptyFleet, fleetReducer, type FleetState } from './fleet';
import { TelemetryFeed } from './telemetry-feed';

interface Fleet {
  state: FleetState;
  stream: StreamState;
  /** Boards the platform knows (GET /boards), empty until loaded. */
  boards: Board[];
  boardsError: string | null;
  /** Telemetry samples as they arrive. */
  telemetry: TelemetryFeed;
}

const FleetContext = createContext<Fleet | null>(null);

export function FleetProvider({ children }: { children: ReactNode }) {
  const { api, signOut } = useAuth();
  const [state, dispatch] = useReducer(fleetReducer, emptyFleet);
  const [stream, setStream] = useState<StreamState>({ kind: 'connecting' });
  const [boards, setBoards] = useState<Board[]>([]);
  const [boardsError, setBoardsError] = useState<string | null>(null);
  const telemetry = useMemo(() => new TelemetryFeed(), []);

  useEffect(
    () =>
      openEventStream(api, {
        onEvent: (event) => {
          if (event.type === 'telemetry') return telemetry.publish(event.data);
          dispatch({ event, atMs: Date.now() });
          if (event.type === 'snapshot') telemetry.resync();
        },
        onState: (s) => {
          setStream(s);
          if (s.kind === 'refused' && s.error.status === 401) signOut(s.error.message);
        },
      }),
    [api, signOut, telemetry],
  );

  useEffect(() => {
    api.boards().then(setBoards, (e: Error) => setBoardsError(e.message));
  }, [api]);

  return <FleetContext.Provider value={{ state, stream, boards, boardsError, telemetry }}>{children}</FleetContext.Provider>;
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
