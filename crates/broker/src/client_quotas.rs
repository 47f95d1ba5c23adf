//! Client quota enforcement (KIP-13, KIP-219): `producer_byte_rate` on Produce and
//! `consumer_byte_rate` on consumer Fetch, per (user, client id) sensor as Kafka's default
//! callback resolves them (`security::quota::resolve`). A client over its bound still gets its
//! answer at once, with `throttle_time_ms`; then its connection reads nothing more for that long
//! (Kafka mutes the channel; `server/connection.rs` waits before the next read). A throttled
//! fetch is answered empty, and its bytes are not counted.
//!
//! `request_percentage` bounds the time a client's requests keep the broker's threads busy
//! (measured as the time spent polling each request's handling, `server/connection.rs`; 1 s of
//! it is 100), for every API but the brokers' own; its throttle is capped at one window. The
//! answer carries the longest of the throttles that apply.
//!
//! `controller_mutation_rate` (KIP-599) is a token bucket per client, charged with the
//! partitions that CreateTopics, CreatePartitions and DeleteTopics create or delete. Versions
//! that know THROTTLING_QUOTA_EXCEEDED (CreateTopics v6+, DeleteTopics v5+, CreatePartitions
//! v3+) get it for each topic asked for while the bucket is overdrawn; older ones are only
//! throttled. Kafka charges it on the active controller, Runnel on the broker that takes the
//! request.
//!
//! `connection_creation_rate` (KIP-612) bounds new connections per client address (an ip
//! entity, else the default ip): a connection over it is held unserved for its throttle, then
//! closed (`server/mod.rs`). Quotas are kept per broker, as in Kafka: a client spread over
//! several brokers gets the bound on each.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use security::quota::{
    CONNECTION_CREATION_RATE, CONSUMER_BYTE_RATE, CONTROLLER_MUTATION_RATE, PRODUCER_BYTE_RATE,
    QuotaWindow, REQUEST_PERCENTAGE, Rate, SensorKey, TokenBucket, resolve, resolve_ip,
};

use crate::clock::Clock;
use crate::config::BrokerConfig;
use crate::handlers::RequestContext;
use crate::metadata::MetadataStore;

/// Sensors kept at most; past it, sensors idle for a whole window span are dropped first.
const SENSORS_MAX: usize = 100_000;
/// Longest one throttle mutes a connection (a bound lowered by orders of magnitude must not
/// park clients for hours; they come back and are throttled again if still over).
pub const THROTTLE_MS_MAX: u64 = 60_000;

/// The byte rates a client is bounded by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QuotaKind {
    Produce,
    Fetch,
    /// `request_percentage`: percent of one thread's time (1 s busy = 100).
    Request,
}

impl QuotaKind {
    fn key(self) -> &'static str {
        match self {
            QuotaKind::Produce => PRODUCER_BYTE_RATE,
            QuotaKind::Fetch => CONSUMER_BYTE_RATE,
            QuotaKind::Request => REQUEST_PERCENTAGE,
        }
    }
}

pub struct ClientQuotaManager {
    window: QuotaWindow,
    clock: Clock,
    sensors: Mutex<HashMap<(QuotaKind, SensorKey), Rate>>,
    /// `controller_mutation_rate` buckets (KIP-599), bounded like the sensors.
    buckets: Mutex<HashMap<SensorKey, TokenBucket>>,
    /// `connection_creation_rate` sensors per client address (KIP-612), bounded likewise.
    connection_rates: Mutex<HashMap<IpAddr, Rate>>,
}

/// A request's partition-mutation budget, when `controller_mutation_rate` applies.
pub struct MutationQuota {
    rate: f64,
    sensor: SensorKey,
    /// CreateTopics v6+, DeleteTopics v5+, CreatePartitions v3+ refuse a topic once the budget
    /// is overdrawn; older versions only throttle.
    strict: bool,
}

impl ClientQuotaManager {
    pub fn new(config: &BrokerConfig, clock: Clock) -> Self {
        let int = |key: &str, default: u64| {
            config
                .value(key)
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(default)
        };
        ClientQuotaManager {
            window: QuotaWindow {
                samples: int("quota.window.num", 11) as usize,
                window_ms: int("quota.window.size.seconds", 1) * 1000,
            },
            clock,
            sensors: Mutex::new(HashMap::new()),
            buckets: Mutex::new(HashMap::new()),
            connection_rates: Mutex::new(HashMap::new()),
        }
    }

    /// The mutation budget of this request's client, if `controller_mutation_rate` applies.
    pub fn mutation_quota(
        &self,
        metadata: &MetadataStore,
        context: &RequestContext,
        strict: bool,
    ) -> Option<MutationQuota> {
        let quotas = metadata.client_quotas();
        if quotas.is_empty() {
            return None;
        }
        let (rate, sensor) = resolve(
            &quotas,
            CONTROLLER_MUTATION_RATE,
            &context.principal.name,
            context.client_id(),
        )?;
        Some(MutationQuota {
            rate,
            sensor,
            strict,
        })
    }

    fn with_bucket<T>(
        &self,
        quota: &MutationQuota,
        f: impl FnOnce(&mut TokenBucket, u64) -> T,
    ) -> T {
        let now = self.now_ms();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= SENSORS_MAX && !buckets.contains_key(&quota.sensor) {
            // Full buckets are idle ones: dropping them loses nothing.
            buckets.retain(|_, bucket| bucket.throttle_ms(now) > 0);
        }
        let bucket = buckets
            .entry(quota.sensor.clone())
            .or_insert_with(|| TokenBucket::new(quota.rate, self.window, now));
        bucket.set_rate(quota.rate, self.window, now);
        f(bucket, now)
    }

    /// Whether the next topic of a strict request is refused with THROTTLING_QUOTA_EXCEEDED:
    /// KIP-599 accepts a mutation while the budget is not overdrawn (and lets it go below
    /// zero), then refuses until the bucket refills.
    pub fn mutations_refused(&self, quota: &MutationQuota) -> bool {
        quota.strict && self.with_bucket(quota, |bucket, now| bucket.is_exhausted(now))
    }

    /// Takes `partitions` mutations (partitions created or deleted) from the budget.
    pub fn record_mutations(&self, quota: &MutationQuota, partitions: u32) {
        self.with_bucket(quota, |bucket, now| bucket.take(f64::from(partitions), now));
    }

    /// The end of a mutating request: how long its client waits for the budget to be back at
    /// zero (0 without a quota), also muting the connection that long.
    pub fn finish_mutations(&self, quota: Option<&MutationQuota>, context: &RequestContext) -> i32 {
        let Some(quota) = quota else { return 0 };
        let throttle = self
            .with_bucket(quota, |bucket, now| bucket.throttle_ms(now))
            .min(THROTTLE_MS_MAX);
        context.throttle(throttle);
        i32::try_from(throttle).unwrap_or(i32::MAX)
    }

    /// Counts a new connection from `ip` against its `connection_creation_rate`: 0 to serve
    /// it, else how long to hold it before closing it unserved (Kafka's acceptor delays the
    /// close of a throttled connection, and does not count it).
    pub fn connection_throttle_ms(&self, metadata: &MetadataStore, ip: IpAddr) -> u64 {
        let quotas = metadata.client_quotas();
        if quotas.is_empty() {
            return 0;
        }
        let Some(bound) = resolve_ip(&quotas, CONNECTION_CREATION_RATE, &ip) else {
            return 0;
        };
        let now = self.now_ms();
        let mut rates = self
            .connection_rates
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if rates.len() >= SENSORS_MAX && !rates.contains_key(&ip) {
            let span = self.window.samples as u64 * self.window.window_ms;
            rates.retain(|_, rate| now.saturating_sub(rate.last_record_ms()) < span);
            if rates.len() >= SENSORS_MAX {
                tracing::warn!(%ip, "connection rate sensors are full; this address is not metered");
                return 0;
            }
        }
        let rate = rates
            .entry(ip)
            .or_insert_with(|| Rate::new(self.window, now));
        rate.record(1.0, now);
        let throttle = rate.throttle_ms(bound, now).min(THROTTLE_MS_MAX);
        if throttle > 0 {
            rate.record(-1.0, now);
        }
        throttle
    }

    fn now_ms(&self) -> u64 {
        u64::try_from((self.clock)()).unwrap_or(0)
    }

    /// The bound and sensor for this request's client, if a quota of `kind` applies.
    fn bound(
        &self,
        metadata: &MetadataStore,
        kind: QuotaKind,
        context: &RequestContext,
    ) -> Option<(f64, SensorKey)> {
        let quotas = metadata.client_quotas();
        if quotas.is_empty() {
            return None;
        }
        resolve(
            &quotas,
            kind.key(),
            &context.principal.name,
            context.client_id(),
        )
    }

    /// Counts the time a request kept a thread busy against `request_percentage`; the
    /// throttle is capped at one window, as Kafka's `ClientRequestQuotaManager` caps it.
    pub fn record_request_time(
        &self,
        metadata: &MetadataStore,
        context: &RequestContext,
        busy: std::time::Duration,
    ) -> u64 {
        let percent = busy.as_secs_f64() * 100.0;
        self.record_value(metadata, QuotaKind::Request, context, percent)
            .min(self.window.window_ms)
    }

    /// Counts `bytes` for the client and returns how long it is throttled (0: within bound).
    pub fn record(
        &self,
        metadata: &MetadataStore,
        kind: QuotaKind,
        context: &RequestContext,
        bytes: usize,
    ) -> u64 {
        self.record_value(metadata, kind, context, bytes as f64)
    }

    fn record_value(
        &self,
        metadata: &MetadataStore,
        kind: QuotaKind,
        context: &RequestContext,
        value: f64,
    ) -> u64 {
        let Some((bound, sensor)) = self.bound(metadata, kind, context) else {
            return 0;
        };
        let now = self.now_ms();
        let mut sensors = self.sensors.lock().unwrap_or_else(|p| p.into_inner());
        if sensors.len() >= SENSORS_MAX && !sensors.contains_key(&(kind, sensor.clone())) {
            let span = self.window.samples as u64 * self.window.window_ms;
            sensors.retain(|_, rate| now.saturating_sub(rate.last_record_ms()) < span);
            if sensors.len() >= SENSORS_MAX {
                tracing::warn!("client quota sensors are full; this client is not metered");
                return 0;
            }
        }
        let rate = sensors
            .entry((kind, sensor))
            .or_insert_with(|| Rate::new(self.window, now));
        rate.record(value, now);
        rate.throttle_ms(bound, now).min(THROTTLE_MS_MAX)
    }

    /// Takes back `bytes` counted by [`record`](Self::record) (a throttled fetch sends none).
    pub fn unrecord(
        &self,
        metadata: &MetadataStore,
        kind: QuotaKind,
        context: &RequestContext,
        bytes: usize,
    ) {
        let Some((_, sensor)) = self.bound(metadata, kind, context) else {
            return;
        };
        let now = self.now_ms();
        let mut sensors = self.sensors.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(rate) = sensors.get_mut(&(kind, sensor)) {
            rate.record(-(bytes as f64), now);
        }
    }

    /// The most one fetch may return to this client (Kafka's `maxValueInQuotaWindow`), when a
    /// consumer quota applies.
    pub fn fetch_bytes_max(
        &self,
        metadata: &MetadataStore,
        context: &RequestContext,
    ) -> Option<u64> {
        let (bound, _) = self.bound(metadata, QuotaKind::Fetch, context)?;
        Some(self.window.max_value(bound).max(1.0) as u64)
    }
}
