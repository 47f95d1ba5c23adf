//! The broker's metrics: what is counted where, without a lock on the produce and fetch paths.
//!
//! - Per partition ([`PartitionMetrics`], a field of each hosted partition): bytes and records
//!   appended as leader, bytes read by consumer fetches. Summed per topic when scraped.
//! - Per API ([`RequestMetrics`]): requests answered and a fixed-bucket histogram of their total
//!   time (from the frame read to the answer encoded), indexed by API key.
//! - Broker-wide ([`BrokerMetrics`]): open connections per listener; ISR shrinks and expands
//!   are counted by the partitions (`partitions::IsrChanges`).
//! - Gauges computed when scraped (`render.rs`): under-replicated and offline partitions, the
//!   active controller, each partition's log size and offsets, and consumer group lag.
//!
//! Every counter is an atomic add (relaxed): a scrape may see one counter a moment ahead of
//! another, never a torn value.

mod render;

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

pub use render::render;

/// One partition's traffic.
#[derive(Debug, Default)]
pub struct PartitionMetrics {
    pub bytes_in: AtomicU64,
    pub messages_in: AtomicU64,
    pub bytes_out: AtomicU64,
}

impl PartitionMetrics {
    pub fn record_append(&self, bytes: usize, records: u64) {
        self.bytes_in.fetch_add(bytes as u64, Ordering::Relaxed);
        self.messages_in.fetch_add(records, Ordering::Relaxed);
    }

    pub fn record_fetch(&self, bytes: u64) {
        self.bytes_out.fetch_add(bytes, Ordering::Relaxed);
    }
}

/// Upper bounds of the request-time buckets, in microseconds (the last bucket is unbounded).
pub const TIME_BUCKETS_US: [u64; 16] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000, 5_000_000, 10_000_000,
];
/// API keys counted (Kafka's are below 100).
const API_KEYS: usize = 128;

/// One API's requests and their total time.
#[derive(Debug, Default)]
pub struct ApiMetrics {
    pub requests: AtomicU64,
    pub time_us_sum: AtomicU64,
    /// One more than the bounds: the last counts requests slower than every bound.
    pub buckets: [AtomicU64; TIME_BUCKETS_US.len() + 1],
}

/// Requests per API key.
pub struct RequestMetrics {
    apis: Vec<ApiMetrics>,
}

impl Default for RequestMetrics {
    fn default() -> Self {
        RequestMetrics {
            apis: (0..API_KEYS).map(|_| ApiMetrics::default()).collect(),
        }
    }
}

impl RequestMetrics {
    /// Counts one answered request of `api_key` that took `elapsed`.
    pub fn record(&self, api_key: i16, elapsed: Duration) {
        let Some(api) = usize::try_from(api_key).ok().and_then(|i| self.apis.get(i)) else {
            return;
        };
        let us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        let bucket = TIME_BUCKETS_US
            .iter()
            .position(|bound| us <= *bound)
            .unwrap_or(TIME_BUCKETS_US.len());
        api.requests.fetch_add(1, Ordering::Relaxed);
        api.time_us_sum.fetch_add(us, Ordering::Relaxed);
        api.buckets[bucket].fetch_add(1, Ordering::Relaxed);
    }

    /// The APIs with at least one request, by key.
    pub fn served(&self) -> impl Iterator<Item = (i16, &ApiMetrics)> {
        self.apis
            .iter()
            .enumerate()
            .filter(|(_, api)| api.requests.load(Ordering::Relaxed) > 0)
            .map(|(key, api)| (key as i16, api))
    }
}

/// Broker-wide counters.
#[derive(Default)]
pub struct BrokerMetrics {
    pub requests: RequestMetrics,
    /// Open connections per listener name (a handful of listeners: a short map).
    connections: Mutex<BTreeMap<String, std::sync::Arc<AtomicI64>>>,
}

impl BrokerMetrics {
    /// The open-connection gauge of `listener` (taken once per connection, not per request).
    pub fn connections_of(&self, listener: &str) -> std::sync::Arc<AtomicI64> {
        let mut map = self.connections.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(listener.to_string()).or_default().clone()
    }

    fn connection_counts(&self) -> Vec<(String, i64)> {
        let map = self.connections.lock().unwrap_or_else(|p| p.into_inner());
        map.iter()
            .map(|(name, count)| (name.clone(), count.load(Ordering::Relaxed)))
            .collect()
    }
}

/// Counts an open connection on its listener until dropped.
pub struct ConnectionGauge(std::sync::Arc<AtomicI64>);

impl ConnectionGauge {
    pub fn open(metrics: &BrokerMetrics, listener: &str) -> Self {
        let gauge = metrics.connections_of(listener);
        gauge.fetch_add(1, Ordering::Relaxed);
        ConnectionGauge(gauge)
    }
}

impl Drop for ConnectionGauge {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The request-time quantile `q` (0..1) estimated from the buckets: the upper bound of the
/// bucket holding that rank, in milliseconds (the largest bound for the open bucket).
pub fn quantile_ms(buckets: &[u64], q: f64) -> f64 {
    let total: u64 = buckets.iter().sum();
    if total == 0 {
        return 0.0;
    }
    let rank = (q * total as f64).ceil().max(1.0) as u64;
    let mut seen = 0;
    for (i, count) in buckets.iter().enumerate() {
        seen += count;
        if seen >= rank {
            let bound = TIME_BUCKETS_US
                .get(i)
                .copied()
                .unwrap_or(TIME_BUCKETS_US[TIME_BUCKETS_US.len() - 1]);
            return bound as f64 / 1000.0;
        }
    }
    TIME_BUCKETS_US[TIME_BUCKETS_US.len() - 1] as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Goal: a request lands in the first bucket whose bound holds its time; quantiles read the
    /// bucket bound at their rank.
    #[test]
    fn request_times_are_bucketed_and_quantiles_read_back() {
        let metrics = RequestMetrics::default();
        for _ in 0..98 {
            metrics.record(0, Duration::from_micros(800));
        }
        metrics.record(0, Duration::from_millis(40));
        metrics.record(0, Duration::from_secs(60));
        metrics.record(-1, Duration::from_millis(1));
        metrics.record(500, Duration::from_millis(1));
        let (key, api) = metrics.served().next().unwrap();
        assert_eq!(key, 0);
        assert_eq!(metrics.served().count(), 1);
        let buckets: Vec<u64> = api
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        assert_eq!(api.requests.load(Ordering::Relaxed), 100);
        assert_eq!(buckets[3], 98, "800 µs is within 1 ms");
        assert_eq!(buckets[8], 1, "40 ms is within 50 ms");
        assert_eq!(buckets[16], 1, "60 s is past every bound");
        assert_eq!(quantile_ms(&buckets, 0.5), 1.0);
        assert_eq!(quantile_ms(&buckets, 0.99), 50.0);
        assert_eq!(quantile_ms(&buckets, 1.0), 10_000.0);
        assert_eq!(quantile_ms(&[0; 17], 0.5), 0.0);
    }
}
