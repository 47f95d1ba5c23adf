//! Group configs (Kafka's GROUP config resource, type 32): the per-group keys a share group
//! reads, their validation, how IncrementalAlterConfigs changes them (in the metadata store on a
//! single node, through the controller in a cluster) and how DescribeConfigs lists them, and the
//! share-partition settings they resolve to.
//!
//! Served keys, each falling back to the broker's `group.`-prefixed key (Kafka's `GroupConfig`):
//! `share.auto.offset.reset` (`latest`, `earliest`, `by_duration:<ISO-8601 duration>`),
//! `share.record.lock.duration.ms`, `share.delivery.count.limit`,
//! `share.partition.max.record.locks` and `share.isolation.level` (`read_uncommitted` only: a
//! share group reading committed records is not built). Kafka's other group keys
//! (`consumer.*`, `share.session.timeout.ms`, `share.heartbeat.interval.ms`, `streams.*`) are
//! refused with INVALID_CONFIG rather than stored and ignored.

use std::collections::BTreeMap;

use crate::broker::Broker;
use crate::config_admin::{ConfigEntry, Synonym, config_type, source};
use crate::error::BrokerError;
use crate::share::partition::SharePartitionLimits;

/// Kafka's `ConfigResource.Type` id of groups.
pub const RESOURCE_GROUP: i8 = 32;
/// Kafka's `DescribeConfigsResponse.ConfigSource` id of a group's own config.
const GROUP_CONFIG_SOURCE: i8 = 8;

pub const AUTO_OFFSET_RESET: &str = "share.auto.offset.reset";
const LOCK_DURATION: &str = "share.record.lock.duration.ms";
const DELIVERY_COUNT_LIMIT: &str = "share.delivery.count.limit";
const MAX_RECORD_LOCKS: &str = "share.partition.max.record.locks";
const ISOLATION_LEVEL: &str = "share.isolation.level";

struct GroupKey {
    name: &'static str,
    config_type: i8,
    doc: &'static str,
    check: fn(&str) -> Result<(), String>,
}

fn int_in(value: &str, min: i64, max: i64) -> Result<(), String> {
    match value.trim().parse::<i64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(()),
        _ => Err(format!("must be an integer in [{min}, {max}]")),
    }
}

const GROUP_KEYS: &[GroupKey] = &[
    GroupKey {
        name: AUTO_OFFSET_RESET,
        config_type: config_type::STRING,
        doc: "Where a share group starts reading a partition it has no state for: latest, earliest or by_duration:<ISO-8601 duration>.",
        check: |v| {
            AutoOffsetReset::parse(v)
                .map(|_| ())
                .ok_or_else(|| "must be latest, earliest or by_duration:<duration>".into())
        },
    },
    GroupKey {
        name: LOCK_DURATION,
        config_type: config_type::INT,
        doc: "How long a share consumer holds an acquired record.",
        check: |v| int_in(v, 1_000, 3_600_000),
    },
    GroupKey {
        name: DELIVERY_COUNT_LIMIT,
        config_type: config_type::INT,
        doc: "Deliveries of one record before it is archived.",
        check: |v| int_in(v, 2, 10),
    },
    GroupKey {
        name: MAX_RECORD_LOCKS,
        config_type: config_type::INT,
        doc: "Records in flight per share-partition.",
        check: |v| int_in(v, 100, 10_000),
    },
    GroupKey {
        name: ISOLATION_LEVEL,
        config_type: config_type::STRING,
        doc: "What share consumers read; Runnel serves read_uncommitted.",
        check: |v| match v.trim() {
            "read_uncommitted" => Ok(()),
            "read_committed" => Err("read_committed share groups are not supported yet".into()),
            _ => Err("must be read_uncommitted".into()),
        },
    },
];

/// `share.auto.offset.reset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoOffsetReset {
    Latest,
    Earliest,
    /// Records whose timestamp is at most this many milliseconds old.
    ByDuration(i64),
}

impl AutoOffsetReset {
    pub fn parse(value: &str) -> Option<AutoOffsetReset> {
        match value.trim().to_ascii_lowercase().as_str() {
            "latest" => Some(AutoOffsetReset::Latest),
            "earliest" => Some(AutoOffsetReset::Earliest),
            other => other
                .strip_prefix("by_duration:")
                .and_then(parse_iso_duration_ms)
                .map(AutoOffsetReset::ByDuration),
        }
    }
}

/// Milliseconds of an ISO-8601 duration of days, hours, minutes and seconds (`P1DT2H3M4.5S`,
/// Java's `Duration.parse` without signs).
fn parse_iso_duration_ms(text: &str) -> Option<i64> {
    let rest = text.strip_prefix('p')?;
    let (days, time) = match rest.split_once('t') {
        Some((days, time)) => (days, Some(time)),
        None => (rest, None),
    };
    let mut ms: f64 = 0.0;
    if !days.is_empty() {
        ms += days.strip_suffix('d')?.parse::<f64>().ok()? * 86_400_000.0;
    }
    if let Some(mut time) = time {
        if time.is_empty() {
            return None;
        }
        for (unit, factor) in [('h', 3_600_000.0), ('m', 60_000.0), ('s', 1_000.0)] {
            if let Some((number, after)) = time.split_once(unit) {
                ms += number.parse::<f64>().ok()? * factor;
                time = after;
            }
        }
        if !time.is_empty() {
            return None;
        }
    }
    (ms.is_finite() && ms >= 0.0 && ms < i64::MAX as f64).then_some(ms as i64)
}

fn key(name: &str) -> Option<&'static GroupKey> {
    GROUP_KEYS.iter().find(|k| k.name == name)
}

/// The broker key a group key falls back to (Kafka's `group.` prefix).
fn broker_key(name: &str) -> String {
    format!("group.{name}")
}

/// The broker's value of a group key: its `group.`-prefixed setting or Kafka's default.
fn broker_value(broker: &Broker, name: &str) -> String {
    if let Some(value) = broker.config.value(&broker_key(name)) {
        return value.to_owned();
    }
    let limits = broker.shares.limits;
    match name {
        AUTO_OFFSET_RESET => "latest".into(),
        LOCK_DURATION => limits.lock_duration_ms.to_string(),
        DELIVERY_COUNT_LIMIT => limits.delivery_count_limit.to_string(),
        MAX_RECORD_LOCKS => limits.max_record_locks.to_string(),
        _ => "read_uncommitted".into(),
    }
}

/// Checks a change to a group key: known, and a valid value when set.
pub fn check_change(name: &str, value: Option<&str>) -> Result<(), BrokerError> {
    let Some(key) = key(name) else {
        return Err(BrokerError::InvalidConfig(format!(
            "unknown or unsupported group config {name}"
        )));
    };
    if let Some(value) = value {
        (key.check)(value).map_err(|reason| {
            BrokerError::InvalidConfig(format!(
                "invalid value {value} for configuration {name}: {reason}"
            ))
        })?;
    }
    Ok(())
}

/// Applies checked changes to `group_id`'s configs.
pub async fn alter(
    broker: &Broker,
    group_id: &str,
    changes: Vec<(String, Option<String>)>,
) -> Result<(), BrokerError> {
    if group_id.is_empty() {
        return Err(BrokerError::InvalidRequest(
            "the group name is empty".into(),
        ));
    }
    match broker.cluster.get() {
        None => {
            let entries: Vec<(String, String, Option<String>)> = changes
                .into_iter()
                .map(|(key, value)| (group_id.to_owned(), key, value))
                .collect();
            broker.metadata.change_group_configs(&entries)
        }
        Some(cluster) => {
            for (key, value) in changes {
                cluster
                    .propose(controller::MetadataCommand::SetConfig {
                        resource: controller::ConfigResource::Group(group_id.to_owned()),
                        key,
                        value,
                    })
                    .await?;
            }
            Ok(())
        }
    }
}

/// DescribeConfigs of a group: every served key with its group value or the broker's.
pub fn entries(broker: &Broker, group_id: &str) -> Vec<ConfigEntry> {
    let own = broker.metadata.group_configs(group_id);
    GROUP_KEYS
        .iter()
        .map(|key| {
            let fallback = Synonym {
                name: broker_key(key.name),
                value: Some(broker_value(broker, key.name)),
                source: if broker.config.value(&broker_key(key.name)).is_some() {
                    source::STATIC_BROKER_CONFIG
                } else {
                    source::DEFAULT_CONFIG
                },
            };
            let (value, source, mut synonyms) = match own.get(key.name) {
                Some(value) => (
                    value.clone(),
                    GROUP_CONFIG_SOURCE,
                    vec![Synonym {
                        name: key.name.to_owned(),
                        value: Some(value.clone()),
                        source: GROUP_CONFIG_SOURCE,
                    }],
                ),
                None => (
                    fallback.value.clone().unwrap_or_default(),
                    fallback.source,
                    Vec::new(),
                ),
            };
            synonyms.push(fallback);
            ConfigEntry {
                name: key.name.to_owned(),
                value: Some(value),
                source,
                read_only: false,
                is_sensitive: false,
                config_type: key.config_type,
                documentation: Some(key.doc.to_owned()),
                synonyms,
            }
        })
        .collect()
}

/// A share group's resolved settings.
#[derive(Debug, Clone, Copy)]
pub struct ShareGroupSettings {
    pub limits: SharePartitionLimits,
    pub auto_offset_reset: AutoOffsetReset,
}

/// `group_id`'s share settings: its own configs over the broker's.
pub fn share_settings(broker: &Broker, group_id: &str) -> ShareGroupSettings {
    let own: BTreeMap<String, String> = broker.metadata.group_configs(group_id);
    let defaults = broker.shares.limits;
    let number = |name: &str, default: i64| {
        own.get(name)
            .and_then(|v| v.trim().parse::<i64>().ok())
            .unwrap_or(default)
    };
    ShareGroupSettings {
        limits: SharePartitionLimits {
            lock_duration_ms: number(LOCK_DURATION, defaults.lock_duration_ms),
            delivery_count_limit: number(
                DELIVERY_COUNT_LIMIT,
                i64::from(defaults.delivery_count_limit),
            ) as i16,
            max_record_locks: number(MAX_RECORD_LOCKS, defaults.max_record_locks as i64) as usize,
        },
        auto_offset_reset: own
            .get(AUTO_OFFSET_RESET)
            .and_then(|v| AutoOffsetReset::parse(v))
            .unwrap_or(AutoOffsetReset::Latest),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_offset_reset_values() {
        assert_eq!(
            AutoOffsetReset::parse("earliest"),
            Some(AutoOffsetReset::Earliest)
        );
        assert_eq!(
            AutoOffsetReset::parse("LATEST"),
            Some(AutoOffsetReset::Latest)
        );
        assert_eq!(
            AutoOffsetReset::parse("by_duration:PT1H30M"),
            Some(AutoOffsetReset::ByDuration(5_400_000))
        );
        assert_eq!(
            AutoOffsetReset::parse("by_duration:P1DT0.5S"),
            Some(AutoOffsetReset::ByDuration(86_400_500))
        );
        for bad in [
            "none",
            "by_duration:",
            "by_duration:PT",
            "by_duration:1H",
            "by_duration:PT5X",
        ] {
            assert_eq!(AutoOffsetReset::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn changes_are_checked() {
        assert!(check_change(AUTO_OFFSET_RESET, Some("earliest")).is_ok());
        assert!(check_change(AUTO_OFFSET_RESET, Some("sometimes")).is_err());
        assert!(check_change(DELIVERY_COUNT_LIMIT, Some("11")).is_err());
        assert!(check_change(ISOLATION_LEVEL, Some("read_committed")).is_err());
        assert!(check_change("consumer.session.timeout.ms", Some("50000")).is_err());
        assert!(check_change(LOCK_DURATION, None).is_ok());
    }
}
