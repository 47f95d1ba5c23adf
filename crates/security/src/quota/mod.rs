//! Client quotas (KIP-13, KIP-55, KIP-219, KIP-546): quota entities and keys with the checks of
//! Kafka's `ClientQuotaControlManager`, DescribeClientQuotas' filter, and the resolution order
//! of Kafka's default quota callback (which configured entity bounds a (user, client-id) and
//! which sensor meters it). The windowed rate and throttle time are in `rate.rs`.
//!
//! No I/O: the broker keeps the sensors, stamps `throttle_time_ms` and mutes connections.

mod rate;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use rate::{QuotaWindow, Rate, TokenBucket};

/// Entity types on the wire.
pub const USER: &str = "user";
pub const CLIENT_ID: &str = "client-id";
pub const IP: &str = "ip";

/// The keys Runnel enforces, and the others Kafka accepts.
pub const PRODUCER_BYTE_RATE: &str = "producer_byte_rate";
pub const CONSUMER_BYTE_RATE: &str = "consumer_byte_rate";
pub const REQUEST_PERCENTAGE: &str = "request_percentage";
pub const CONTROLLER_MUTATION_RATE: &str = "controller_mutation_rate";
pub const CONNECTION_CREATION_RATE: &str = "connection_creation_rate";

/// One component's name: a named entity or the `<default>` one (null on the wire).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum EntityName {
    Default,
    Named(String),
}

impl EntityName {
    pub fn from_wire(name: Option<&str>) -> Self {
        name.map_or(EntityName::Default, |n| EntityName::Named(n.to_string()))
    }

    pub fn to_wire(&self) -> Option<String> {
        match self {
            EntityName::Default => None,
            EntityName::Named(name) => Some(name.clone()),
        }
    }
}

/// A quota entity: a user, a client id, both, or an ip alone.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct QuotaEntity {
    pub user: Option<EntityName>,
    pub client_id: Option<EntityName>,
    pub ip: Option<EntityName>,
}

/// A quota value. Kafka's are doubles; equality is by bits so images compare exactly.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct QuotaValue(pub f64);

impl PartialEq for QuotaValue {
    fn eq(&self, other: &Self) -> bool {
        self.0.to_bits() == other.0.to_bits()
    }
}
impl Eq for QuotaValue {}

/// Every configured entity with its keys.
pub type QuotaMap = BTreeMap<QuotaEntity, BTreeMap<String, QuotaValue>>;

impl QuotaEntity {
    /// The entity named by wire (type, name) pairs, or Kafka's INVALID_REQUEST reason
    /// (UNSUPPORTED for an unknown type, which DescribeClientQuotas answers differently).
    pub fn from_components(components: &[(&str, Option<&str>)]) -> Result<Self, EntityError> {
        if components.is_empty() {
            return Err(EntityError::Invalid(
                "Invalid empty client quota entity".into(),
            ));
        }
        let mut entity = QuotaEntity {
            user: None,
            client_id: None,
            ip: None,
        };
        for (entity_type, name) in components {
            if name == &Some("") {
                return Err(EntityError::Invalid(format!(
                    "Empty {entity_type} name is not allowed; use null for the default entity"
                )));
            }
            let slot = match *entity_type {
                USER => &mut entity.user,
                CLIENT_ID => &mut entity.client_id,
                IP => &mut entity.ip,
                "" => return Err(EntityError::Invalid("Invalid empty entity type".into())),
                other => {
                    return Err(EntityError::UnknownType(format!(
                        "Unhandled client quota entity type: {other}"
                    )));
                }
            };
            if slot.is_some() {
                return Err(EntityError::Invalid(format!(
                    "Duplicate {entity_type} entity type in the client quota entity"
                )));
            }
            *slot = Some(EntityName::from_wire(*name));
        }
        if entity.ip.is_some() && (entity.user.is_some() || entity.client_id.is_some()) {
            return Err(EntityError::Invalid(
                "Invalid quota entity combination: ip cannot be combined with user or client-id"
                    .into(),
            ));
        }
        if let Some(EntityName::Named(ip)) = &entity.ip
            && ip.parse::<std::net::IpAddr>().is_err()
        {
            return Err(EntityError::Invalid(format!(
                "{ip} is not a valid IP address"
            )));
        }
        Ok(entity)
    }

    /// The (type, name) pairs, user first, as Kafka lists them.
    pub fn components(&self) -> Vec<(&'static str, &EntityName)> {
        [
            (USER, &self.user),
            (CLIENT_ID, &self.client_id),
            (IP, &self.ip),
        ]
        .into_iter()
        .filter_map(|(ty, name)| name.as_ref().map(|n| (ty, n)))
        .collect()
    }

    /// Why `value` for `key` is refused on this entity, if it is (Kafka's INVALID_REQUEST).
    pub fn invalid_value(&self, key: &str, value: f64) -> Option<String> {
        let client_keys = [
            PRODUCER_BYTE_RATE,
            CONSUMER_BYTE_RATE,
            REQUEST_PERCENTAGE,
            CONTROLLER_MUTATION_RATE,
        ];
        let (known, integral) = if self.ip.is_some() {
            (key == CONNECTION_CREATION_RATE, Some(i32::MAX as f64))
        } else {
            let long = [PRODUCER_BYTE_RATE, CONSUMER_BYTE_RATE].contains(&key);
            (client_keys.contains(&key), long.then_some(i64::MAX as f64))
        };
        if !known {
            return Some(format!("Invalid configuration key {key}"));
        }
        if !value.is_finite() || value <= 0.0 {
            return Some(format!(
                "Invalid value {value} for configuration key {key}: must be positive"
            ));
        }
        if let Some(max) = integral
            && ((value - value.round()).abs() > 1e-6 || value > max)
        {
            return Some(format!(
                "Invalid value {value} for configuration key {key}: not an integer in range"
            ));
        }
        None
    }
}

/// Why wire components do not name an entity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntityError {
    Invalid(String),
    UnknownType(String),
}

/// How a DescribeClientQuotas component matches (its `match_type`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ComponentMatch {
    /// The entity names exactly this (match type 0).
    Exact(String),
    /// The entity has the `<default>` of this type (1).
    Default,
    /// The entity has any name of this type (2).
    Specified,
}

/// A DescribeClientQuotas filter: components intersected; `strict` keeps only entities with no
/// other types.
#[derive(Debug, Clone)]
pub struct QuotaFilter {
    pub components: Vec<(String, ComponentMatch)>,
    pub strict: bool,
}

impl QuotaFilter {
    pub fn matches(&self, entity: &QuotaEntity) -> bool {
        if self.components.is_empty() {
            return !self.strict;
        }
        let all = self.components.iter().all(|(entity_type, matcher)| {
            let name = match entity_type.as_str() {
                USER => &entity.user,
                CLIENT_ID => &entity.client_id,
                IP => &entity.ip,
                _ => &None,
            };
            match (matcher, name) {
                (_, None) => false,
                (ComponentMatch::Exact(wanted), Some(EntityName::Named(name))) => wanted == name,
                (ComponentMatch::Exact(_), Some(EntityName::Default)) => false,
                (ComponentMatch::Default, Some(name)) => *name == EntityName::Default,
                (ComponentMatch::Specified, Some(_)) => true,
            }
        });
        all && (!self.strict || entity.components().len() == self.components.len())
    }
}

/// The sensor a quota is metered under (Kafka's metric tags): connections with the same tags
/// share one budget.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SensorKey {
    pub user: String,
    pub client_id: String,
}

/// The bound on `key` for a request from `user` (the principal's name) with `client_id`, and
/// its sensor, by Kafka's default callback order; `None` when no entity configures `key`.
pub fn resolve(
    quotas: &QuotaMap,
    key: &str,
    user: &str,
    client_id: &str,
) -> Option<(f64, SensorKey)> {
    let named = |name: &str| Some(EntityName::Named(name.to_string()));
    let levels = [
        (named(user), named(client_id), true, true),
        (named(user), Some(EntityName::Default), true, true),
        (named(user), None, true, false),
        (Some(EntityName::Default), named(client_id), true, true),
        (
            Some(EntityName::Default),
            Some(EntityName::Default),
            true,
            true,
        ),
        (Some(EntityName::Default), None, true, false),
        (None, named(client_id), false, true),
        (None, Some(EntityName::Default), false, true),
    ];
    levels.into_iter().find_map(|(u, c, user_tag, client_tag)| {
        let entity = QuotaEntity {
            user: u,
            client_id: c,
            ip: None,
        };
        let bound = quotas.get(&entity)?.get(key)?.0;
        let tag = |yes: bool, value: &str| {
            if yes {
                value.to_string()
            } else {
                String::new()
            }
        };
        Some((
            bound,
            SensorKey {
                user: tag(user_tag, user),
                client_id: tag(client_tag, client_id),
            },
        ))
    })
}

/// The bound on `key` for connections from `ip`: the ip's own entity, else the default ip's
/// (Kafka's order for `connection_creation_rate`); `None` when neither configures it.
pub fn resolve_ip(quotas: &QuotaMap, key: &str, ip: &std::net::IpAddr) -> Option<f64> {
    [EntityName::Named(ip.to_string()), EntityName::Default]
        .into_iter()
        .find_map(|name| {
            let entity = QuotaEntity {
                user: None,
                client_id: None,
                ip: Some(name),
            };
            Some(quotas.get(&entity)?.get(key)?.0)
        })
}

/// One change of AlterClientQuotas: `key` set to `value`, or removed when `None`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotaChange {
    pub entity: QuotaEntity,
    pub key: String,
    pub value: Option<QuotaValue>,
}

/// Applies `changes` to `quotas` after checking every value (all or nothing); an entity left
/// without keys is removed.
pub fn apply_changes(quotas: &mut QuotaMap, changes: &[QuotaChange]) -> Result<(), String> {
    for change in changes {
        if let Some(value) = change.value
            && let Some(reason) = change.entity.invalid_value(&change.key, value.0)
        {
            return Err(reason);
        }
    }
    for change in changes {
        match change.value {
            Some(value) => {
                quotas
                    .entry(change.entity.clone())
                    .or_default()
                    .insert(change.key.clone(), value);
            }
            None => {
                if let Some(keys) = quotas.get_mut(&change.entity) {
                    keys.remove(&change.key);
                    if keys.is_empty() {
                        quotas.remove(&change.entity);
                    }
                }
            }
        }
    }
    Ok(())
}

/// Serde for a [`QuotaMap`] as a list of (entity, keys) pairs: JSON maps need string keys.
pub mod as_list {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::{QuotaEntity, QuotaMap, QuotaValue};
    use std::collections::BTreeMap;

    pub fn serialize<S: Serializer>(quotas: &QuotaMap, serializer: S) -> Result<S::Ok, S::Error> {
        let pairs: Vec<(&QuotaEntity, &BTreeMap<String, QuotaValue>)> = quotas.iter().collect();
        pairs.serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<QuotaMap, D::Error> {
        let pairs: Vec<(QuotaEntity, BTreeMap<String, QuotaValue>)> =
            Vec::deserialize(deserializer)?;
        Ok(pairs.into_iter().collect())
    }
}

#[cfg(test)]
mod tests;
