//! Client quota enforcement (KIP-13, KIP-219): `producer_byte_rate` on Produce and
//! `consumer_byte_rate` on consumer Fetch, per (user, client id) sensor as Kafka's default
//! callback resolves them (`security::quota::resolve`). A client over its bound still gets its
//! answer at once, with `throttle_time_ms`; then its connection reads nothing more for that long
//! (Kafka mutes the channel; `server/connection.rs` waits before the next read). A throttled
//! fetch is answered empty, and its bytes are not counted.
//!
//! Not enforced yet: `request_percentage`, `controller_mutation_rate`,
//! `connection_creation_rate` (stored and described, not applied). Quotas are kept per broker,
//! as in Kafka: a client spread over several brokers gets the bound on each.

use std::collections::HashMap;
use std::sync::Mutex;

use security::quota::{
    CONSUMER_BYTE_RATE, PRODUCER_BYTE_RATE, QuotaWindow, Rate, SensorKey, resolve,
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
}

impl QuotaKind {
    fn key(self) -> &'static str {
        match self {
            QuotaKind::Produce => PRODUCER_BYTE_RATE,
            QuotaKind::Fetch => CONSUMER_BYTE_RATE,
        }
    }
}

pub struct ClientQuotaManager {
    window: QuotaWindow,
    clock: Clock,
    sensors: Mutex<HashMap<(QuotaKind, SensorKey), Rate>>,
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
        }
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

    /// Counts `bytes` for the client and returns how long it is throttled (0: within bound).
    pub fn record(
        &self,
        metadata: &MetadataStore,
        kind: QuotaKind,
        context: &RequestContext,
        bytes: usize,
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
        rate.record(bytes as f64, now);
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
