//! `sim`: runs the data-plane simulator over a range of seeds, or replays one seed with its
//! trace.
//!
//! Usage: `sim [--seeds A..B | --seed S] [--steps N] [--mutation NAME] [--page-cache]
//! [--corrupt PER_MILLE] [--trace] [--trace-lines N] [--keep-going]`. Exits 1 at the first violation, after
//! printing the seed, the step and the last events; 2 on bad arguments. With `--mutation`, a
//! seed that breaks an invariant without the mutation too is skipped (it would not show that
//! the mutation was caught). `--keep-going` runs every seed and lists those that broke one.

use std::process::ExitCode;
use std::time::Instant;

use sim::{Mutation, SimConfig};

fn usage() -> ExitCode {
    eprintln!(
        "usage: sim [--seeds A..B | --seed S] [--steps N] [--mutation NAME] [--page-cache] \
         [--corrupt PER_MILLE] [--trace] [--trace-lines N] [--keep-going]\nmutations: {}",
        Mutation::ALL.map(Mutation::name).join(", ")
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let mut config = SimConfig::standard();
    let mut seeds = 0..1000u64;
    let mut trace = false;
    let mut keep_going = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_default();
        match arg.as_str() {
            "--seeds" => {
                let text = value();
                let Some((a, b)) = text.split_once("..") else {
                    return usage();
                };
                match (a.parse(), b.parse()) {
                    (Ok(a), Ok(b)) if a < b => seeds = a..b,
                    _ => return usage(),
                }
            }
            "--seed" => match value().parse::<u64>() {
                Ok(s) => seeds = s..s + 1,
                Err(_) => return usage(),
            },
            "--steps" => match value().parse() {
                Ok(n) => config.steps = n,
                Err(_) => return usage(),
            },
            "--mutation" => match Mutation::parse(&value()) {
                Some(m) => config.mutation = Some(m),
                None => return usage(),
            },
            "--page-cache" => config = config.page_cache(),
            "--corrupt" => match value().parse() {
                Ok(p) => config = config.with_corruption(p),
                Err(_) => return usage(),
            },
            "--trace" => trace = true,
            "--keep-going" => keep_going = true,
            "--trace-lines" => match value().parse() {
                Ok(n) => config.trace_lines = n,
                Err(_) => return usage(),
            },
            _ => return usage(),
        }
    }
    let started = Instant::now();
    let mut failed: Vec<u64> = Vec::new();
    let (mut ran, mut steps, mut acked, mut virtual_ms) = (0u64, 0u64, 0usize, 0i64);
    for seed in seeds.clone() {
        let report = sim::run(seed, &config, trace);
        ran += 1;
        steps += report.steps;
        acked += report.acked;
        virtual_ms += report.virtual_ms;
        if trace {
            for line in &report.trace {
                println!("{line}");
            }
            println!(
                "seed {seed}: {} steps, {} ms simulated, {} acknowledged, trace hash {:016x}",
                report.steps, report.virtual_ms, report.acked, report.trace_hash
            );
        }
        if let Some((step, violation)) = &report.violation {
            if config.mutation.is_some() {
                let baseline = SimConfig {
                    mutation: None,
                    ..config.clone()
                };
                if sim::run(seed, &baseline, false).violation.is_some() {
                    println!("seed {seed}: breaks an invariant without the mutation too; skipped");
                    continue;
                }
            }
            if keep_going {
                println!(
                    "seed {seed}: invariant {} broken at step {step}: {}",
                    violation.invariant, violation.detail
                );
                failed.push(seed);
                continue;
            }
            println!("{}", sim::explain(&report, &config));
            return ExitCode::from(1);
        }
    }
    let secs = started.elapsed().as_secs_f64();
    if !failed.is_empty() {
        let list: Vec<String> = failed.iter().map(u64::to_string).collect();
        println!(
            "{} of {ran} seeds broke an invariant: {}",
            failed.len(),
            list.join(", ")
        );
        return ExitCode::from(1);
    }
    println!(
        "{ran} seeds ({}..{}) passed: {steps} steps, {:.0} s simulated, {acked} acknowledged \
         records checked, {:.1} s ({:.0} seeds/s)",
        seeds.start,
        seeds.end,
        virtual_ms as f64 / 1000.0,
        secs,
        ran as f64 / secs.max(1e-9)
    );
    ExitCode::SUCCESS
}
