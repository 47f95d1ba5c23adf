//! Unit tests of quota entities, filters, resolution and the windowed rate.

use super::*;

fn entity(components: &[(&str, Option<&str>)]) -> QuotaEntity {
    QuotaEntity::from_components(components).unwrap()
}

/// Goal: the entity checks of Kafka's ClientQuotaControlManager: empty, repeated, unknown,
/// empty-named and ip-with-user entities are refused; values must be positive and, for byte
/// rates, integral.
#[test]
fn entities_and_values_are_checked_as_kafka_does() {
    assert!(matches!(
        QuotaEntity::from_components(&[]),
        Err(EntityError::Invalid(_))
    ));
    assert!(matches!(
        QuotaEntity::from_components(&[(USER, Some("a")), (USER, Some("b"))]),
        Err(EntityError::Invalid(_))
    ));
    assert!(matches!(
        QuotaEntity::from_components(&[("group", Some("a"))]),
        Err(EntityError::UnknownType(_))
    ));
    assert!(matches!(
        QuotaEntity::from_components(&[(USER, Some(""))]),
        Err(EntityError::Invalid(_))
    ));
    assert!(matches!(
        QuotaEntity::from_components(&[(IP, Some("10.0.0.1")), (USER, Some("a"))]),
        Err(EntityError::Invalid(_))
    ));
    assert!(matches!(
        QuotaEntity::from_components(&[(IP, Some("not-an-ip"))]),
        Err(EntityError::Invalid(_))
    ));
    let alice = entity(&[(CLIENT_ID, Some("c")), (USER, Some("alice"))]);
    assert_eq!(
        alice.components(),
        vec![
            (USER, &EntityName::Named("alice".into())),
            (CLIENT_ID, &EntityName::Named("c".into()))
        ]
    );
    assert_eq!(alice.invalid_value(PRODUCER_BYTE_RATE, 1024.0), None);
    assert_eq!(alice.invalid_value(REQUEST_PERCENTAGE, 12.5), None);
    assert!(alice.invalid_value(PRODUCER_BYTE_RATE, 10.5).is_some());
    assert!(alice.invalid_value(CONSUMER_BYTE_RATE, 0.0).is_some());
    assert!(alice.invalid_value(CONNECTION_CREATION_RATE, 5.0).is_some());
    assert!(alice.invalid_value("retention.ms", 5.0).is_some());
    let ip = entity(&[(IP, None)]);
    assert_eq!(ip.invalid_value(CONNECTION_CREATION_RATE, 5.0), None);
    assert!(ip.invalid_value(PRODUCER_BYTE_RATE, 5.0).is_some());
}

/// Goal: DescribeClientQuotas filters: exact, default and specified components intersect, and
/// strict keeps only entities without other types.
#[test]
fn filters_match_as_describe_client_quotas_does() {
    let alice = entity(&[(USER, Some("alice"))]);
    let alice_c1 = entity(&[(USER, Some("alice")), (CLIENT_ID, Some("c1"))]);
    let default_user = entity(&[(USER, None)]);
    let filter = |components: Vec<(&str, ComponentMatch)>, strict| QuotaFilter {
        components: components
            .into_iter()
            .map(|(t, m)| (t.to_string(), m))
            .collect(),
        strict,
    };
    let exact = filter(vec![(USER, ComponentMatch::Exact("alice".into()))], false);
    assert!(exact.matches(&alice) && exact.matches(&alice_c1) && !exact.matches(&default_user));
    let strict = filter(vec![(USER, ComponentMatch::Exact("alice".into()))], true);
    assert!(strict.matches(&alice) && !strict.matches(&alice_c1));
    let default = filter(vec![(USER, ComponentMatch::Default)], false);
    assert!(default.matches(&default_user) && !default.matches(&alice));
    let any = filter(vec![(USER, ComponentMatch::Specified)], false);
    assert!(any.matches(&alice) && any.matches(&default_user));
    assert!(filter(vec![], false).matches(&alice));
    assert!(!filter(vec![], true).matches(&alice));
}

/// Goal: Kafka's resolution order: user+client-id beats user, which beats a default user, which
/// beats client-id entities; a user-level quota is shared by all the user's client ids (one
/// sensor), a default-user quota gives each user its own.
#[test]
fn the_most_specific_configured_entity_bounds_a_client() {
    let mut quotas = QuotaMap::new();
    let mut set = |components: &[(&str, Option<&str>)], value: f64| {
        quotas
            .entry(entity(components))
            .or_default()
            .insert(PRODUCER_BYTE_RATE.to_string(), QuotaValue(value));
    };
    set(&[(CLIENT_ID, None)], 1.0);
    set(&[(USER, None)], 2.0);
    set(&[(USER, Some("alice"))], 3.0);
    set(&[(USER, Some("alice")), (CLIENT_ID, Some("fast"))], 4.0);
    let bound = |user: &str, client: &str| resolve(&quotas, PRODUCER_BYTE_RATE, user, client);
    let key = |user: &str, client: &str| SensorKey {
        user: user.into(),
        client_id: client.into(),
    };
    assert_eq!(bound("alice", "fast"), Some((4.0, key("alice", "fast"))));
    assert_eq!(bound("alice", "slow"), Some((3.0, key("alice", ""))));
    assert_eq!(bound("bob", "slow"), Some((2.0, key("bob", ""))));
    assert_eq!(resolve(&quotas, CONSUMER_BYTE_RATE, "bob", "slow"), None);
    quotas.remove(&entity(&[(USER, None)]));
    assert_eq!(
        resolve(&quotas, PRODUCER_BYTE_RATE, "bob", "slow"),
        Some((1.0, key("", "slow")))
    );
}

/// Goal: an ip's connection rate is its own entity's, else the default ip's, else unbounded.
#[test]
fn an_ip_is_bound_by_its_own_entity_then_the_default_ip() {
    let mut quotas = QuotaMap::new();
    let ip = |text: &str| text.parse::<std::net::IpAddr>().unwrap();
    let bound =
        |quotas: &QuotaMap, text: &str| resolve_ip(quotas, CONNECTION_CREATION_RATE, &ip(text));
    assert_eq!(bound(&quotas, "10.0.0.1"), None);
    quotas
        .entry(entity(&[(IP, None)]))
        .or_default()
        .insert(CONNECTION_CREATION_RATE.to_string(), QuotaValue(5.0));
    quotas
        .entry(entity(&[(IP, Some("10.0.0.1"))]))
        .or_default()
        .insert(CONNECTION_CREATION_RATE.to_string(), QuotaValue(1.0));
    assert_eq!(bound(&quotas, "10.0.0.1"), Some(1.0));
    assert_eq!(bound(&quotas, "10.0.0.2"), Some(5.0));
    assert_eq!(bound(&quotas, "::1"), Some(5.0));
    assert_eq!(
        resolve_ip(&quotas, PRODUCER_BYTE_RATE, &ip("10.0.0.1")),
        None
    );
}

/// Goal: the rate counts a first burst over at least `samples - 1` windows, forgets samples
/// older than all windows, and the throttle is Kafka's `(rate - bound) / bound × window`.
#[test]
fn the_rate_and_throttle_follow_kafkas_sampled_rate() {
    let window = QuotaWindow {
        samples: 11,
        window_ms: 1000,
    };
    let mut rate = Rate::new(window, 0);
    rate.record(15_000.0, 0);
    // 15 000 over a 10 s minimum window: 1 500/s.
    assert_eq!(rate.measure(0), 1500.0);
    // Bound 1 000/s: (1500 - 1000) / 1000 × 10 000 ms.
    assert_eq!(rate.throttle_ms(1000.0, 0), 5000);
    assert_eq!(rate.throttle_ms(2000.0, 0), 0);
    rate.record(-15_000.0, 0);
    assert_eq!(rate.measure(0), 0.0);
    rate.record(1000.0, 0);
    rate.record(1000.0, 5_500);
    // Elapsed 5.5 s counted as 10.5 s.
    assert!((rate.measure(5_500) - 2000.0 / 10.5).abs() < 1e-9);
    // Past every window, everything is forgotten.
    assert_eq!(rate.measure(60_000), 0.0);
    assert_eq!(window.max_value(100.0), 1000.0);
}

/// Goal: the mutation bucket starts full (rate × window span), may be overdrawn once, refuses
/// (is exhausted) while below zero, refills at the rate, and its throttle is the time to zero.
#[test]
fn the_mutation_bucket_overdraws_once_and_refills() {
    let window = QuotaWindow {
        samples: 2,
        window_ms: 1000,
    };
    let mut bucket = TokenBucket::new(5.0, window, 0);
    assert!(!bucket.is_exhausted(0));
    bucket.take(8.0, 0);
    assert!(!bucket.is_exhausted(0), "10 tokens, 2 left");
    bucket.take(6.0, 0);
    assert!(bucket.is_exhausted(0), "overdrawn to -4");
    assert_eq!(bucket.throttle_ms(0), 800);
    assert!(!bucket.is_exhausted(800));
    assert_eq!(bucket.throttle_ms(60_000), 0);
}
