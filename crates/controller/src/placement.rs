//! Replica placement for new topics and partitions: replicas spread over brokers and racks, at
//! most one replica of a partition per broker.
//!
//! Like Kafka's rack-aware placement, usable brokers (registered, unfenced, not shutting down) are
//! listed rack by rack in alternation (r1-b1, r2-b3, r1-b2, r2-b4, ...). Partition `p` starts at
//! position `start + p` of that list, so first replicas (preferred leaders) go round the brokers;
//! its replicas are then taken in list order, first from racks not used yet, then from any broker
//! not used yet. `start` comes from the topic id, which spreads topics without a random number
//! generator: the result is a pure function of the command and the image.

use std::collections::BTreeMap;

use crate::error::ControllerError;
use crate::image::{BrokerId, BrokerRegistration};

/// Places `count` partitions numbered from `first_partition`, `replication_factor` replicas
/// each.
pub fn place_replicas(
    brokers: &BTreeMap<BrokerId, BrokerRegistration>,
    seed: u128,
    first_partition: i32,
    count: i32,
    replication_factor: i32,
) -> Result<Vec<Vec<BrokerId>>, ControllerError> {
    let list = rack_alternated(brokers);
    let rf = usize::try_from(replication_factor).unwrap_or(0);
    if rf == 0 || rf > list.len() {
        return Err(ControllerError::InvalidReplicationFactor {
            requested: replication_factor,
            available: list.len(),
        });
    }
    let n = list.len();
    let start = usize::try_from(seed % n as u128).expect("smaller than n");
    let mut assignment = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
    for partition in first_partition..first_partition + count {
        let offset = (start + usize::try_from(partition).unwrap_or(0)) % n;
        let mut replicas: Vec<BrokerId> = Vec::with_capacity(rf);
        let mut racks_used: Vec<&Option<String>> = Vec::with_capacity(rf);
        // Pass 1 takes brokers on racks not used yet; pass 2 fills up with any unused broker.
        for pass in 0..2 {
            for step in 0..n {
                if replicas.len() == rf {
                    break;
                }
                let (broker, rack) = &list[(offset + step) % n];
                if replicas.contains(broker) || (pass == 0 && racks_used.contains(&rack)) {
                    continue;
                }
                replicas.push(*broker);
                racks_used.push(rack);
            }
        }
        debug_assert_eq!(replicas.len(), rf);
        assignment.push(replicas);
    }
    Ok(assignment)
}

/// Usable brokers, alternating between racks (racks and brokers in ascending order; a broker
/// without a rack counts as one more rack).
fn rack_alternated(
    brokers: &BTreeMap<BrokerId, BrokerRegistration>,
) -> Vec<(BrokerId, Option<String>)> {
    let mut by_rack: BTreeMap<&Option<String>, Vec<BrokerId>> = BTreeMap::new();
    for broker in brokers.values().filter(|b| b.is_eligible()) {
        by_rack
            .entry(&broker.rack)
            .or_default()
            .push(broker.broker_id);
    }
    let longest = by_rack.values().map(Vec::len).max().unwrap_or(0);
    let mut list = Vec::new();
    for i in 0..longest {
        for (rack, ids) in &by_rack {
            if let Some(id) = ids.get(i) {
                list.push((*id, (*rack).clone()));
            }
        }
    }
    list
}

#[cfg(test)]
mod tests {
    use super::*;

    fn broker(id: BrokerId, rack: Option<&str>) -> (BrokerId, BrokerRegistration) {
        let registration = BrokerRegistration {
            broker_id: id,
            incarnation_id: 0,
            broker_epoch: 1,
            rack: rack.map(str::to_owned),
            listeners: Vec::new(),
            fenced: false,
            in_controlled_shutdown: false,
            log_dir_failed: false,
        };
        (id, registration)
    }

    #[test]
    fn spreads_replicas_over_racks_and_leaders_over_brokers() {
        // Goal: with 3 racks and RF 3 every partition has one replica per rack, and preferred
        // leaders go round all six brokers.
        let brokers: BTreeMap<_, _> = [
            broker(1, Some("a")),
            broker(2, Some("a")),
            broker(3, Some("b")),
            broker(4, Some("b")),
            broker(5, Some("c")),
            broker(6, Some("c")),
        ]
        .into();
        let assignment = place_replicas(&brokers, 7, 0, 12, 3).unwrap();
        let rack_of = |id: &BrokerId| brokers[id].rack.clone();
        for replicas in &assignment {
            let mut racks: Vec<_> = replicas.iter().map(rack_of).collect();
            racks.sort();
            racks.dedup();
            assert_eq!(racks.len(), 3, "{replicas:?}");
        }
        let mut leaders: Vec<_> = assignment.iter().map(|r| r[0]).collect();
        leaders.sort_unstable();
        leaders.dedup();
        assert_eq!(leaders, vec![1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn more_replicas_than_racks_still_one_per_broker() {
        let brokers: BTreeMap<_, _> = [
            broker(1, Some("a")),
            broker(2, Some("a")),
            broker(3, Some("b")),
        ]
        .into();
        for replicas in place_replicas(&brokers, 0, 0, 5, 3).unwrap() {
            let mut sorted = replicas.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, vec![1, 2, 3]);
        }
    }

    #[test]
    fn rejects_a_replication_factor_above_the_usable_brokers() {
        let mut brokers: BTreeMap<_, _> = [broker(1, None), broker(2, None)].into();
        brokers.get_mut(&2).unwrap().fenced = true;
        let err = place_replicas(&brokers, 0, 0, 1, 2).unwrap_err();
        assert_eq!(
            err,
            ControllerError::InvalidReplicationFactor {
                requested: 2,
                available: 1
            }
        );
        assert!(place_replicas(&brokers, 0, 0, 1, 0).is_err());
    }
}
