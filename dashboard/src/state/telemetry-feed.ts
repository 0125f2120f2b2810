// Telemetry samples from the event stream, handed to the charts that want
// them. A sample changes no resource, so it never goes through the fleet
// reducer: a fleet publishing every second would re-render every page
// that reads the fleet, once per sample. Each chart subscribes to what it
// draws. The stream does not replay samples after a reconnect; it sends a
// fresh snapshot, and the feed tells every chart to read its range again.

import type { TelemetrySample } from '../api/types';
import { appOfSlot } from '../model';

/** Which samples a subscriber wants; an absent field matches any. `app` matches every slot of the application. */
export interface SampleFilter {
  device?: string;
  app?: string;
  metric?: string;
}

export interface FeedListener {
  sample: (s: TelemetrySample) => void;
  /** The stream reconnected: samples may have been missed since the last one. */
  resync: () => void;
}

export function matches(f: SampleFilter, s: TelemetrySample): boolean {
  return (
    (f.device === undefined || f.device === s.device) &&
    (f.metric === undefined || f.metric === s.metric) &&
    (f.app === undefined || f.app === appOfSlot(s.app))
  );
}

export class TelemetryFeed {
  private readonly listeners = new Map<FeedListener, SampleFilter>();

  /** Calls `l` with each sample `f` matches, until the returned function is called. */
  subscribe(f: SampleFilter, l: FeedListener): () => void {
    // A copy, so the same listener object may subscribe twice without the
    // second subscription's removal ending the first.
    const own: FeedListener = { sample: (s) => l.sample(s), resync: () => l.resync() };
    this.listeners.set(own, f);
    return () => {
      this.listeners.delete(own);
    };
  }

  publish(s: TelemetrySample): void {
    for (const [l, f] of this.listeners) if (matches(f, s)) l.sample(s);
  }

  resync(): void {
    for (const l of this.listeners.keys()) l.resync();
  }
}
