//! What apps publish: a bounded time series per device and metric, with a
//! live feed, and the fleet-level aggregates built from it.
//!
//! Bounds (in memory only; nothing goes to disk, and after a platform
//! restart the series start again):
//! - each series keeps its last [`TelemetryLimits::recent_points`] points at
//!   full rate (12 bytes each), and one aggregate (min, mean, max, count;
//!   40 bytes) per [`TelemetryLimits::bucket_ms`] for
//!   [`TelemetryLimits::buckets`] buckets;
//! - at most [`TelemetryLimits::max_series`] series; samples of a series
//!   beyond that are dropped and counted.
//!
//! With the defaults (600 points, one-minute buckets for 24 hours) a series
//! holds at most about 65 KB, so 1,000 devices with two metrics each stay
//! under 140 MB in the worst case: [`TelemetryBook::bytes`] says what is
//! held now.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

/// A sample as the platform keeps it and the event stream carries it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct TelemetrySample {
    /// Device that published it.
    pub device: String,
    /// App (slot) that published it.
    pub app: String,
    /// Application revision of the app, when known.
    pub revision: Option<u64>,
    /// Metric name.
    pub metric: String,
    /// When it was taken, Unix ms (dated from the device's clock).
    pub t_ms: u64,
    /// The value.
    pub value: f64,
}

/// One point of a series.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Point {
    /// Unix ms.
    pub t_ms: u64,
    /// Value.
    pub value: f64,
}

/// Many points summarised: a downsampled bucket, or the fleet at one time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Aggregate {
    /// Start of the bucket, Unix ms.
    pub t_ms: u64,
    /// Smallest value.
    pub min: f64,
    /// Mean value.
    pub mean: f64,
    /// Largest value.
    pub max: f64,
    /// Points (or devices) summarised.
    pub count: u64,
}

impl Aggregate {
    fn of(t_ms: u64, value: f64) -> Self {
        Self { t_ms, min: value, mean: value, max: value, count: 1 }
    }

    fn add(&mut self, value: f64) {
        self.min = self.min.min(value);
        self.max = self.max.max(value);
        self.count += 1;
        self.mean += (value - self.mean) / self.count as f64;
    }

    /// Summarises `values`; `None` when there are none.
    pub fn over(t_ms: u64, values: impl IntoIterator<Item = f64>) -> Option<Self> {
        let mut it = values.into_iter();
        let mut agg = Self::of(t_ms, it.next()?);
        for v in it {
            agg.add(v);
        }
        Some(agg)
    }
}

/// A series over a time range: full-rate points where they are still held,
/// downsampled buckets before that.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct SeriesRange {
    /// Buckets older than the first point, oldest first.
    pub buckets: Vec<Aggregate>,
    /// Full-rate points, oldest first.
    pub points: Vec<Point>,
}

/// What one device publishes under one metric, now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct MetricSummary {
    /// Metric name.
    pub metric: String,
    /// App that publishes it.
    pub app: String,
    /// Latest point.
    pub last: Point,
    /// Points received since the platform started.
    pub received: u64,
}

/// The fleet's latest values of one application's metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct FleetMetric {
    /// Application (slot names are folded to it).
    pub app: String,
    /// Metric.
    pub metric: String,
    /// Over each device's latest value; `count` is the devices.
    pub latest: Aggregate,
}

/// How much a [`TelemetryBook`] keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelemetryLimits {
    /// Full-rate points per series.
    pub recent_points: usize,
    /// Width of a downsampled bucket.
    pub bucket_ms: u64,
    /// Downsampled buckets per series.
    pub buckets: usize,
    /// Series held at most.
    pub max_series: usize,
}

impl Default for TelemetryLimits {
    fn default() -> Self {
        Self { recent_points: 600, bucket_ms: 60_000, buckets: 24 * 60, max_series: 20_000 }
    }
}

/// Full-rate points, 12 bytes each: times as ms after a base kept once
/// per series, and capacity grown in small exact steps (not doubled), so
/// what a series holds is close to what it uses.
#[derive(Default)]
struct Ring {
    base_ms: u64,
    times: VecDeque<u32>,
    values: VecDeque<f64>,
}

impl Ring {
    /// Capacity is added this many points at a time.
    const STEP: usize = 16;
    /// How far before its first point a series' base is set, so slightly
    /// older samples arriving later need no re-basing.
    const SLACK_MS: u64 = 3_600_000;

    fn len(&self) -> usize {
        self.times.len()
    }

    fn get(&self, i: usize) -> Option<Point> {
        Some(Point { t_ms: self.base_ms + u64::from(*self.times.get(i)?), value: *self.values.get(i)? })
    }

    fn front(&self) -> Option<Point> {
        self.get(0)
    }

    fn back(&self) -> Option<Point> {
        self.get(self.len().checked_sub(1)?)
    }

    fn iter(&self) -> impl Iterator<Item = Point> + '_ {
        self.times.iter().zip(&self.values).map(|(t, v)| Point { t_ms: self.base_ms + u64::from(*t), value: *v })
    }

    /// Appends `p`, dropping the oldest beyond `limit` points.
    fn push(&mut self, p: Point, limit: usize) {
        if self.times.is_empty() {
            self.base_ms = p.t_ms.saturating_sub(Self::SLACK_MS);
        }
        let fits = |base: u64| p.t_ms >= base && p.t_ms - base <= u64::from(u32::MAX);
        if !fits(self.base_ms) {
            self.rebase(p.t_ms);
            if !fits(self.base_ms) {
                // Weeks older than what the series holds now: not kept.
                return;
            }
        }
        if self.times.len() >= limit {
            self.times.pop_front();
            self.values.pop_front();
        }
        if self.times.len() == self.times.capacity() {
            let more = Self::STEP.min(limit.saturating_sub(self.times.len())).max(1);
            self.times.reserve_exact(more);
            self.values.reserve_exact(more);
        }
        self.times.push_back((p.t_ms - self.base_ms) as u32);
        self.values.push_back(p.value);
    }

    /// A new base for the newest of `t_ms` and the points kept, reaching
    /// back as far as 32 bits of ms allow; older points are dropped (a
    /// clock that jumped by weeks: the newest time wins).
    fn rebase(&mut self, t_ms: u64) {
        let points: Vec<Point> = self.iter().collect();
        let newest = points.iter().map(|p| p.t_ms).chain([t_ms]).max().unwrap_or(t_ms);
        let reach = u64::from(u32::MAX) - Self::SLACK_MS;
        let oldest =
            points.iter().map(|p| p.t_ms).chain([t_ms]).filter(|t| newest - t <= reach).min().unwrap_or(newest);
        self.base_ms = oldest.saturating_sub(Self::SLACK_MS);
        self.times.clear();
        self.values.clear();
        for q in points {
            if q.t_ms >= self.base_ms && q.t_ms - self.base_ms <= u64::from(u32::MAX) {
                self.times.push_back((q.t_ms - self.base_ms) as u32);
                self.values.push_back(q.value);
            }
        }
    }

    fn bytes(&self) -> usize {
        self.times.capacity() * std::mem::size_of::<u32>() + self.values.capacity() * std::mem::size_of::<f64>()
    }
}

struct Series {
    app: String,
    recent: Ring,
    buckets: VecDeque<Aggregate>,
    received: u64,
}

impl Series {
    fn bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.app.capacity()
            + self.recent.bytes()
            + self.buckets.capacity() * std::mem::size_of::<Aggregate>()
    }
}

/// The application a slot belongs to: `hello.r3` (a blue-green revision
/// kept beside another) is `hello`.
pub fn app_of_slot(slot: &str) -> &str {
    slot.split_once('.').map_or(slot, |(app, _)| app)
}

/// Every device's series, bounded, with a live feed.
pub struct TelemetryBook {
    series: Mutex<HashMap<(String, String), Series>>,
    limits: TelemetryLimits,
    feed: broadcast::Sender<TelemetrySample>,
    received: AtomicU64,
    dropped_by_devices: AtomicU64,
    dropped_here: AtomicU64,
}

impl std::fmt::Debug for TelemetryBook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelemetryBook").field("limits", &self.limits).finish_non_exhaustive()
    }
}

impl Default for TelemetryBook {
    fn default() -> Self {
        Self::new(TelemetryLimits::default())
    }
}

impl TelemetryBook {
    /// An empty book keeping what `limits` allow.
    pub fn new(limits: TelemetryLimits) -> Self {
        Self {
            series: Mutex::default(),
            limits,
            feed: broadcast::channel(8192).0,
            received: AtomicU64::new(0),
            dropped_by_devices: AtomicU64::new(0),
            dropped_here: AtomicU64::new(0),
        }
    }

    /// Records samples and publishes them to followers.
    pub fn record(&self, samples: impl IntoIterator<Item = TelemetrySample>) {
        let Ok(mut map) = self.series.lock() else { return };
        for s in samples {
            let key = (s.device.clone(), s.metric.clone());
            let full = map.len() >= self.limits.max_series;
            let series = match map.get_mut(&key) {
                Some(series) => series,
                None if full => {
                    self.dropped_here.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                None => map.entry(key).or_insert_with(|| Series {
                    app: s.app.clone(),
                    recent: Ring::default(),
                    buckets: VecDeque::new(),
                    received: 0,
                }),
            };
            if series.app != s.app {
                series.app.clone_from(&s.app);
            }
            let point = Point { t_ms: s.t_ms, value: s.value };
            series.recent.push(point, self.limits.recent_points);
            series.received += 1;
            let start = s.t_ms - s.t_ms % self.limits.bucket_ms.max(1);
            match series.buckets.back_mut() {
                Some(b) if b.t_ms == start => b.add(s.value),
                _ => {
                    if series.buckets.len() >= self.limits.buckets {
                        series.buckets.pop_front();
                    }
                    if series.buckets.len() == series.buckets.capacity() {
                        series.buckets.reserve_exact(1);
                    }
                    series.buckets.push_back(Aggregate::of(start, s.value));
                }
            }
            self.received.fetch_add(1, Ordering::Relaxed);
            let _ = self.feed.send(s);
        }
    }

    /// Counts samples a device said it dropped over its rate limit.
    pub fn dropped_by_device(&self, n: u32) {
        self.dropped_by_devices.fetch_add(u64::from(n), Ordering::Relaxed);
    }

    /// Follows every sample recorded from now on.
    pub fn follow(&self) -> broadcast::Receiver<TelemetrySample> {
        self.feed.subscribe()
    }

    /// `device`'s `metric` from `from_ms` to `to_ms` (inclusive): the
    /// full-rate points held, and the buckets before the first of them.
    pub fn range(&self, device: &str, metric: &str, from_ms: u64, to_ms: u64) -> SeriesRange {
        let Ok(map) = self.series.lock() else { return SeriesRange::default() };
        let Some(s) = map.get(&(device.to_string(), metric.to_string())) else { return SeriesRange::default() };
        let points: Vec<Point> = s.recent.iter().filter(|p| p.t_ms >= from_ms && p.t_ms <= to_ms).collect();
        let first = s.recent.front().map_or(u64::MAX, |p| p.t_ms);
        let buckets = s
            .buckets
            .iter()
            .filter(|b| {
                b.t_ms >= from_ms.saturating_sub(from_ms % self.limits.bucket_ms.max(1))
                    && b.t_ms <= to_ms
                    && b.t_ms + self.limits.bucket_ms <= first
            })
            .copied()
            .collect();
        SeriesRange { buckets, points }
    }

    /// The metrics `device` publishes, by name.
    pub fn metrics(&self, device: &str) -> Vec<MetricSummary> {
        let Ok(map) = self.series.lock() else { return Vec::new() };
        let mut out: Vec<MetricSummary> = map
            .iter()
            .filter(|((d, _), _)| d == device)
            .filter_map(|((_, m), s)| {
                Some(MetricSummary {
                    metric: m.clone(),
                    app: s.app.clone(),
                    last: s.recent.back()?,
                    received: s.received,
                })
            })
            .collect();
        out.sort_by(|a, b| a.metric.cmp(&b.metric));
        out
    }

    /// One application's metric across the fleet over time: for each
    /// bucket of `step_ms` from `from_ms`, min, mean and max over every
    /// point its devices published in it (full-rate points where held).
    pub fn fleet_range(&self, app: &str, metric: &str, from_ms: u64, to_ms: u64, step_ms: u64) -> Vec<Aggregate> {
        let step = step_ms.max(1);
        let Ok(map) = self.series.lock() else { return Vec::new() };
        let mut buckets: BTreeMap<u64, Aggregate> = BTreeMap::new();
        for ((_, m), s) in map.iter() {
            if m != metric || app_of_slot(&s.app) != app {
                continue;
            }
            for p in s.recent.iter().filter(|p| p.t_ms >= from_ms && p.t_ms <= to_ms) {
                let start = p.t_ms - (p.t_ms - from_ms) % step;
                buckets.entry(start).and_modify(|b| b.add(p.value)).or_insert_with(|| Aggregate::of(start, p.value));
            }
        }
        buckets.into_values().collect()
    }

    /// Each application's metrics over its devices' latest values (what
    /// `/metrics` exports: one series per application and metric, never
    /// one per device).
    pub fn fleet_latest(&self) -> Vec<FleetMetric> {
        let Ok(map) = self.series.lock() else { return Vec::new() };
        let mut by: BTreeMap<(String, String), Vec<f64>> = BTreeMap::new();
        for ((_, m), s) in map.iter() {
            if let Some(p) = s.recent.back() {
                by.entry((app_of_slot(&s.app).to_string(), m.clone())).or_default().push(p.value);
            }
        }
        by.into_iter()
            .filter_map(|((app, metric), values)| {
                Some(FleetMetric { app, metric, latest: Aggregate::over(0, values)? })
            })
            .collect()
    }

    /// Forgets a device's series (it was deleted).
    pub fn forget(&self, device: &str) {
        if let Ok(mut map) = self.series.lock() {
            map.retain(|(d, _), _| d != device);
        }
    }

    /// Counters: samples recorded, dropped by devices over their rate
    /// limit, dropped here over the series bound.
    pub fn counts(&self) -> TelemetryCounts {
        TelemetryCounts {
            received: self.received.load(Ordering::Relaxed),
            dropped_by_devices: self.dropped_by_devices.load(Ordering::Relaxed),
            dropped_over_series_limit: self.dropped_here.load(Ordering::Relaxed),
        }
    }

    /// Points held at full rate, over all series.
    pub fn points(&self) -> usize {
        self.series.lock().map(|m| m.values().map(|s| s.recent.len()).sum()).unwrap_or(0)
    }

    /// Bytes the series hold (points, buckets, names, bookkeeping).
    pub fn bytes(&self) -> usize {
        let Ok(map) = self.series.lock() else { return 0 };
        let entry = std::mem::size_of::<((String, String), Series)>();
        map.iter().map(|((d, m), s)| entry + d.capacity() + m.capacity() + s.bytes()).sum::<usize>()
            + map.capacity() * std::mem::size_of::<u64>()
    }
}

/// Telemetry counters, for `/metrics` and benchmarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct TelemetryCounts {
    /// Samples recorded.
    pub received: u64,
    /// Samples devices dropped over their apps' rate limits.
    pub dropped_by_devices: u64,
    /// Samples dropped here over the series bound.
    pub dropped_over_series_limit: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(device: &str, app: &str, metric: &str, t_ms: u64, value: f64) -> TelemetrySample {
        TelemetrySample { device: device.into(), app: app.into(), revision: None, metric: metric.into(), t_ms, value }
    }

    #[test]
    fn recent_points_are_bounded_and_older_ones_downsampled() {
        let book =
            TelemetryBook::new(TelemetryLimits { recent_points: 10, bucket_ms: 1000, buckets: 3, max_series: 10 });
        book.record((0..50).map(|i| sample("d", "a", "t", i * 200, i as f64)));
        let r = book.range("d", "t", 0, u64::MAX);
        assert_eq!(r.points.len(), 10, "full rate keeps the last 10");
        assert_eq!(r.points[0].t_ms, 40 * 200);
        // Buckets end before the first point held, and only 3 are kept.
        assert!(r.buckets.len() <= 3);
        assert!(r.buckets.iter().all(|b| b.t_ms + 1000 <= r.points[0].t_ms));
        let b = r.buckets.last().unwrap();
        assert_eq!((b.min, b.max, b.count), (35.0, 39.0, 5));
        assert_eq!(b.mean, 37.0);
    }

    #[test]
    fn series_beyond_the_bound_are_dropped_and_counted() {
        let book = TelemetryBook::new(TelemetryLimits { max_series: 2, ..Default::default() });
        book.record([sample("a", "x", "m", 1, 1.0), sample("b", "x", "m", 1, 1.0), sample("c", "x", "m", 1, 1.0)]);
        assert_eq!(book.counts().dropped_over_series_limit, 1);
        assert!(book.metrics("c").is_empty());
        book.record([sample("a", "x", "m", 2, 2.0)]);
        assert_eq!(book.metrics("a")[0].last.value, 2.0, "known series still grow");
    }

    #[test]
    fn fleet_aggregates_fold_slots_into_their_application() {
        let book = TelemetryBook::default();
        book.record([
            sample("d1", "thermo", "temp_c", 1000, 20.0),
            sample("d2", "thermo.r2", "temp_c", 1500, 30.0),
            sample("d3", "other", "temp_c", 1500, 99.0),
        ]);
        let fleet = book.fleet_latest();
        let thermo = fleet.iter().find(|f| f.app == "thermo").unwrap();
        assert_eq!(
            (thermo.latest.min, thermo.latest.mean, thermo.latest.max, thermo.latest.count),
            (20.0, 25.0, 30.0, 2)
        );
        let range = book.fleet_range("thermo", "temp_c", 0, 10_000, 10_000);
        assert_eq!(range.len(), 1);
        assert_eq!(range[0].count, 2);
    }

    #[test]
    fn a_point_costs_about_its_twelve_bytes_in_a_fleet_of_short_series() {
        let book = TelemetryBook::default();
        for t in 0..30u64 {
            book.record((0..1000).map(|d| {
                sample(&format!("telemetry-{d:04}"), "telemetry", "temp_c", 1_767_225_600_000 + t * 1000, 21.5)
            }));
        }
        let per_point = book.bytes() as f64 / book.points() as f64;
        assert_eq!(book.points(), 30_000);
        assert!(per_point <= 32.0, "{per_point} bytes per point");
    }

    #[test]
    fn points_far_apart_or_out_of_order_keep_their_times() {
        let book = TelemetryBook::new(TelemetryLimits { recent_points: 10, ..Default::default() });
        let day = 86_400_000;
        let times = [100 * day, 100 * day - 2 * 3_600_000, 160 * day, 160 * day + 1];
        book.record(times.iter().map(|t| sample("d", "a", "m", *t, *t as f64)));
        let r = book.range("d", "m", 0, u64::MAX);
        // The two older points cannot share a 32-bit base with 160 days on:
        // the newest are kept, exactly, and an old straggler is not.
        assert!(r.points.iter().all(|p| p.value == p.t_ms as f64), "{r:?}");
        assert_eq!(r.points.iter().map(|p| p.t_ms).collect::<Vec<_>>(), [160 * day, 160 * day + 1]);
        book.record([sample("d", "a", "m", 100 * day, 1.0)]);
        assert_eq!(book.range("d", "m", 0, u64::MAX).points.len(), 2);
    }

    #[test]
    fn followers_see_samples_and_forgetting_a_device_frees_it() {
        let book = TelemetryBook::default();
        let mut rx = book.follow();
        book.record([sample("d", "a", "m", 5, 1.5)]);
        assert_eq!(rx.try_recv().unwrap().value, 1.5);
        assert!(book.bytes() > 0);
        book.forget("d");
        assert_eq!(book.points(), 0);
    }
}
