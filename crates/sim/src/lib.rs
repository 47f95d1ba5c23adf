//! A deterministic simulator of Runnel's data plane (issue 16): the partition's leader,
//! follower, ISR and high-watermark rules, the follower's fetcher and the controller's
//! decisions, driven as sans-I/O state machines under a seeded scheduler with a simulated
//! network (drop, delay, duplicate, reorder, partition) and a simulated disk (lost unsynced
//! writes, torn writes, corruption), checking after every step that no acknowledged record is
//! lost, that replicas agree below their high watermarks, that one leader per epoch writes,
//! and that a leader's high watermark never moves back. One seed replays one run exactly.
//!
//! What is the real code and what is a model (docs/internals/simulator.md): the rules are the
//! broker's and the controller's own (`broker::replica`, `broker::replication_rules`,
//! `broker::cluster::metadata_sync::assignment`, `broker::cluster::self_fencing::ServingState`,
//! `controller::MetadataImage::apply`, `controller::BrokerSessions`, `storage::EpochCache`); the
//! handlers that call them, the log (`disk.rs`), the network and the metadata quorum (one
//! always-available controller) are models. No threads, no tokio, no wall clock.
//!
//! Files: `config.rs` (a run's parameters and the mutations), `rng.rs`, `scheduler.rs`,
//! `network.rs` (messages and link faults), `disk.rs` (the log model and crash faults),
//! `controller.rs`, `broker.rs` (a broker's state, metadata and timers), `replication.rs` (its
//! fetch and produce handlers), `world.rs` (the event loop, client and
//! fault schedule), `checker.rs` (the invariants).

mod broker;
mod checker;
pub mod config;
mod controller;
pub mod disk;
mod network;
mod replication;
pub mod rng;
mod scheduler;
mod world;

pub use checker::Violation;
pub use config::{Faults, Mutation, SimConfig};
pub use world::RunReport;

/// Runs one seed. With `tracing`, the report carries the last `config.trace_lines` events.
pub fn run(seed: u64, config: &SimConfig, tracing: bool) -> RunReport {
    world::World::new(seed, config.clone(), tracing).run(seed)
}

/// The first seed of `seeds` whose run breaks an invariant, with its report, and how many
/// seeds ran.
pub fn first_violation(
    seeds: std::ops::Range<u64>,
    config: &SimConfig,
) -> (u64, Option<RunReport>) {
    let mut ran = 0;
    for seed in seeds {
        ran += 1;
        let report = run(seed, config, false);
        if report.violation.is_some() {
            return (ran, Some(report));
        }
    }
    (ran, None)
}

/// The first seed of `seeds` at which `config` (with a mutation) breaks an invariant while the
/// same seed without the mutation does not: the mutation, not some other fault, was caught.
/// Returns the seed's mutated report, and how many seeds ran.
pub fn first_catch(seeds: std::ops::Range<u64>, config: &SimConfig) -> (u64, Option<RunReport>) {
    let baseline = SimConfig {
        mutation: None,
        ..config.clone()
    };
    let mut ran = 0;
    for seed in seeds {
        ran += 1;
        let report = run(seed, config, false);
        if report.violation.is_some() && run(seed, &baseline, false).violation.is_none() {
            return (ran, Some(report));
        }
    }
    (ran, None)
}

/// A violation's report for people: the seed, the step, the invariant, and the last events
/// (the run is replayed with tracing to get them).
pub fn explain(report: &RunReport, config: &SimConfig) -> String {
    let Some((step, violation)) = &report.violation else {
        return format!("seed {}: no violation", report.seed);
    };
    let replay = run(report.seed, config, true);
    let mutation = config.mutation.map_or("none", Mutation::name);
    let mut text = format!(
        "seed {} (mutation: {mutation}): invariant {} broken at step {step}, t={}ms\n  {}\n\
         last events (replay: cargo run -p sim --release -- --seed {} --trace{}):\n",
        report.seed,
        violation.invariant,
        report.virtual_ms,
        violation.detail,
        report.seed,
        config
            .mutation
            .map_or(String::new(), |m| format!(" --mutation {}", m.name())),
    );
    for line in &replay.trace {
        text.push_str("  ");
        text.push_str(line);
        text.push('\n');
    }
    text
}
