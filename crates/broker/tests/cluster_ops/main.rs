//! Cluster operations across three-node clusters in one process (as tests/cluster.rs), in one
//! test binary so they build once and run side by side: partition reassignment
//! (`reassignment.rs`), fetch from the closest replica (`follower_fetch.rs`), and membership:
//! DescribeQuorum and UnregisterBroker (`membership.rs`), and a dynamic controller quorum
//! changed over the Kafka protocol (`dynamic_quorum.rs`).

#[path = "../common/mod.rs"]
mod common;

mod dynamic_quorum;
mod follower_fetch;
mod membership;
mod reassignment;
