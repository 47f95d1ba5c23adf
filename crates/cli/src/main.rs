//! The `runnel` binary. `runnel serve` starts a broker: with no arguments a single node that is
//! both broker and controller on 127.0.0.1:9092 with data in ./data. Configuration uses Kafka's
//! property names, merged as defaults < `--config FILE` < `RUNNEL_*` environment variables <
//! `--override key=value` flags. `runnel dev-cluster` starts a local replicated cluster. The
//! client subcommands (`topic`, `produce`, `consume`, `group`, `cluster`, `bench`) speak the
//! Kafka protocol to Runnel or Apache Kafka (`client_cmd/`).

mod client_cmd;
mod dev_certs;
mod dev_cluster;
mod properties;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "runnel",
    version,
    about = "A Kafka-compatible event-streaming broker, and a Kafka command-line client"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start a broker (defaults: one node, 127.0.0.1:9092, data in ./data).
    Serve(ServeArgs),
    /// Prepare a dynamic quorum's controller (controller.quorum.bootstrap.servers): a new
    /// directory id and, with --standalone, this controller as the only voter of a new quorum.
    Format(FormatArgs),
    /// Start a local replicated cluster (default 3 nodes on 127.0.0.1) for development.
    DevCluster(dev_cluster::DevClusterArgs),
    /// Make a development CA and PEM certificates for nodes and clients (TLS, mutual TLS).
    DevCerts(dev_certs::DevCertsArgs),
    /// Create, list, describe, configure and delete topics.
    Topic(client_cmd::TopicArgs),
    /// Produce stdin lines as records to a topic.
    Produce(client_cmd::ProduceArgs),
    /// Print a topic's records, directly or as a member of a consumer group.
    Consume(client_cmd::ConsumeArgs),
    /// List, describe (lag), reset the offsets of and delete consumer groups.
    Group(client_cmd::GroupArgs),
    /// Show the cluster: nodes, controller, finalized features.
    Cluster(client_cmd::ClusterArgs),
    /// Load-test a topic: produce or consume N records, report MB/s and latency percentiles.
    Bench(client_cmd::BenchArgs),
}

#[derive(clap::Args)]
struct ServeArgs {
    /// A Kafka server.properties file.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Set a property, as Kafka's start script does; repeatable: --override log.dirs=/tmp/x
    #[arg(long = "override", value_name = "KEY=VALUE")]
    overrides: Vec<String>,
    /// Print every configuration key with its default, then exit.
    #[arg(long)]
    print_default_config: bool,
}

#[derive(clap::Args)]
struct FormatArgs {
    /// A Kafka server.properties file (the node's, as for serve).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Set a property; repeatable: --override node.id=1
    #[arg(long = "override", value_name = "KEY=VALUE")]
    overrides: Vec<String>,
    /// Form a new quorum with this controller as its only voter (kafka-storage format
    /// --standalone); without it the controller joins an existing quorum as an observer.
    #[arg(long)]
    standalone: bool,
}

fn format(args: FormatArgs) -> ExitCode {
    let result = collect_properties(args.config.as_ref(), &args.overrides)
        .and_then(|explicit| {
            broker::BrokerConfig::from_properties(&explicit).map_err(|e| e.to_string())
        })
        .and_then(|config| {
            broker::cluster::controller_node::format(&config, args.standalone)
                .map_err(|e| e.to_string())
        });
    match result {
        Ok(directory_id) => {
            println!("runnel: formatted the metadata folder (directory.id={directory_id})");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("runnel: {message}");
            ExitCode::from(2)
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve(args),
        Command::Format(args) => format(args),
        Command::DevCluster(args) => dev_cluster::run(args),
        Command::DevCerts(args) => dev_certs::run(args),
        Command::Topic(args) => client_cmd::topic::run(args),
        Command::Produce(args) => client_cmd::produce::run(args),
        Command::Consume(args) => client_cmd::consume::run(args),
        Command::Group(args) => client_cmd::group::run(args),
        Command::Cluster(args) => client_cmd::cluster::run(args),
        Command::Bench(args) => client_cmd::bench::run(args),
    }
}

fn serve(args: ServeArgs) -> ExitCode {
    if args.print_default_config {
        print!("{}", broker::BrokerConfig::default_properties());
        return ExitCode::SUCCESS;
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("RUNNEL_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let explicit = match collect_properties(args.config.as_ref(), &args.overrides) {
        Ok(explicit) => explicit,
        Err(message) => {
            eprintln!("runnel: {message}");
            return ExitCode::from(2);
        }
    };
    let config = match broker::BrokerConfig::from_properties(&explicit) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("runnel: {error}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("runnel: starting the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let controller_only =
        config.is_clustered() && config.process_roles.iter().all(|role| role == "controller");
    if controller_only {
        return runtime.block_on(serve_controller(config));
    }
    runtime.block_on(async move {
        let running = match broker::run(config).await {
            Ok(running) => running,
            Err(error) => {
                eprintln!("runnel: {error}");
                return ExitCode::FAILURE;
            }
        };
        for (name, addr) in &running.listener_addrs {
            println!("runnel: serving {name} on {addr}");
        }
        wait_for_signal().await;
        tracing::info!("shutting down");
        running.shutdown().await;
        tracing::info!("stopped cleanly");
        ExitCode::SUCCESS
    })
}

/// `process.roles=controller`: a voter of the metadata quorum and nothing else.
async fn serve_controller(config: broker::BrokerConfig) -> ExitCode {
    let running = match broker::cluster::controller_node::run_controller(config).await {
        Ok(running) => running,
        Err(error) => {
            eprintln!("runnel: {error}");
            return ExitCode::FAILURE;
        }
    };
    println!("runnel: controller serving");
    wait_for_signal().await;
    tracing::info!("shutting down");
    running.shutdown().await;
    tracing::info!("stopped cleanly");
    ExitCode::SUCCESS
}

/// Merges the configuration sources, later ones winning.
fn collect_properties(
    config: Option<&PathBuf>,
    overrides: &[String],
) -> Result<BTreeMap<String, String>, String> {
    let mut explicit = BTreeMap::new();
    if let Some(path) = config {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        explicit.extend(properties::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?);
    }
    explicit.extend(properties::from_environment(std::env::vars()));
    for item in overrides {
        let (key, value) = item
            .split_once('=')
            .ok_or_else(|| format!("--override {item}: expected KEY=VALUE"))?;
        explicit.insert(key.trim().to_string(), value.trim().to_string());
    }
    Ok(explicit)
}

pub(crate) async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = match signal(SignalKind::terminate()) {
        Ok(signal) => signal,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}
