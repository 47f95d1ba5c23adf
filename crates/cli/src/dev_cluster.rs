//! `runnel dev-cluster --nodes N`: a local replicated cluster for development in one command.
//! Starts N `runnel serve` processes (this same binary), each a combined broker and controller
//! on 127.0.0.1 with its own ports and data folder, prints the bootstrap servers, and stops them
//! all (SIGTERM, then SIGKILL after a bound) on Ctrl-C or SIGTERM. A node that exits is
//! reported and the others keep running.

use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

/// Most nodes a development cluster may have.
const NODES_MAX: u16 = 9;

#[derive(clap::Args)]
pub struct DevClusterArgs {
    /// How many nodes (each both broker and controller).
    #[arg(long, default_value_t = 3)]
    nodes: u16,
    /// The first node's client port; node i listens on BASE+2(i-1) (clients) and the next port
    /// (controller).
    #[arg(long, default_value_t = 9092)]
    base_port: u16,
    /// Node i serves /metrics and the console on HTTP port BASE+i-1; 0: no HTTP listener.
    #[arg(long, default_value_t = 9644)]
    http_base_port: u16,
    /// Where the nodes keep their data (node-1, node-2, ...).
    #[arg(long, default_value = "./dev-cluster")]
    data: PathBuf,
    /// Extra properties for every node; repeatable: --override num.partitions=3
    #[arg(long = "override", value_name = "KEY=VALUE")]
    overrides: Vec<String>,
}

pub fn run(args: DevClusterArgs) -> ExitCode {
    if args.nodes == 0 || args.nodes > NODES_MAX {
        eprintln!("runnel dev-cluster: --nodes must be between 1 and {NODES_MAX}");
        return ExitCode::from(2);
    }
    let ports: Vec<(u16, u16)> = (0..args.nodes)
        .map(|i| {
            let client = u32::from(args.base_port) + u32::from(i) * 2;
            (client, client + 1)
        })
        .map(|(c, k)| (u16::try_from(c).unwrap_or(0), u16::try_from(k).unwrap_or(0)))
        .collect();
    if ports.iter().any(|&(c, k)| c == 0 || k == 0) {
        eprintln!(
            "runnel dev-cluster: --base-port is too high for {} nodes",
            args.nodes
        );
        return ExitCode::from(2);
    }
    let voters: Vec<String> = ports
        .iter()
        .enumerate()
        .map(|(i, (_, controller))| format!("{}@127.0.0.1:{controller}", i + 1))
        .collect();
    let voters = voters.join(",");
    let replication = args.nodes.min(3);
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(error) => {
            eprintln!("runnel dev-cluster: finding this binary: {error}");
            return ExitCode::FAILURE;
        }
    };
    let mut children: Vec<Child> = Vec::new();
    for (i, (client, controller)) in ports.iter().enumerate() {
        let id = i + 1;
        let dir = args.data.join(format!("node-{id}"));
        if let Err(error) = std::fs::create_dir_all(&dir) {
            eprintln!("runnel dev-cluster: {}: {error}", dir.display());
            stop(&mut children);
            return ExitCode::FAILURE;
        }
        let log = match std::fs::File::create(dir.join("runnel.log")) {
            Ok(log) => log,
            Err(error) => {
                eprintln!("runnel dev-cluster: {}: {error}", dir.display());
                stop(&mut children);
                return ExitCode::FAILURE;
            }
        };
        let mut command = Command::new(&exe);
        command
            .arg("serve")
            .args(["--override", &format!("node.id={id}")])
            .args(["--override", "process.roles=broker,controller"])
            .args(["--override", &format!("controller.quorum.voters={voters}")])
            .args([
                "--override",
                &format!(
                    "listeners=PLAINTEXT://127.0.0.1:{client},CONTROLLER://127.0.0.1:{controller}"
                ),
            ])
            .args([
                "--override",
                &format!("log.dirs={}", dir.join("data").display()),
            ])
            // Metrics and the console: node i on HTTP_BASE + i - 1, or none.
            .args([
                "--override",
                &match args.http_base_port {
                    0 => "http.listeners=".to_string(),
                    base => format!(
                        "http.listeners=http://127.0.0.1:{}",
                        usize::from(base) + id - 1
                    ),
                },
            ])
            .args([
                "--override",
                &format!("offsets.topic.replication.factor={replication}"),
            ])
            .args([
                "--override",
                &format!("default.replication.factor={replication}"),
            ]);
        for item in &args.overrides {
            command.args(["--override", item]);
        }
        command.stdin(Stdio::null()).stdout(Stdio::null());
        match log.try_clone() {
            Ok(err) => command.stderr(err),
            Err(_) => command.stderr(Stdio::null()),
        };
        match command.spawn() {
            Ok(child) => children.push(child),
            Err(error) => {
                eprintln!("runnel dev-cluster: starting node {id}: {error}");
                stop(&mut children);
                return ExitCode::FAILURE;
            }
        }
    }
    let bootstrap: Vec<String> = ports
        .iter()
        .map(|(client, _)| format!("127.0.0.1:{client}"))
        .collect();
    println!("runnel dev-cluster: {} nodes", args.nodes);
    println!("bootstrap servers: {}", bootstrap.join(","));
    println!("logs and data: {}/node-N", args.data.display());
    println!("Ctrl-C stops the cluster.");
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("runnel dev-cluster: {error}");
            stop(&mut children);
            return ExitCode::FAILURE;
        }
    };
    // A node that exits (or is killed, to watch a failover) is reported; the others keep
    // running until Ctrl-C or until every node has exited.
    let mut reported = vec![false; children.len()];
    runtime.block_on(async {
        loop {
            tokio::select! {
                _ = crate::wait_for_signal() => break,
                _ = tokio::time::sleep(Duration::from_millis(500)) => {
                    for (i, child) in children.iter_mut().enumerate() {
                        if let Ok(Some(status)) = child.try_wait()
                            && !reported[i]
                        {
                            reported[i] = true;
                            eprintln!("runnel dev-cluster: node {} exited ({status})", i + 1);
                        }
                    }
                    if reported.iter().all(|r| *r) {
                        break;
                    }
                }
            }
        }
    });
    stop(&mut children);
    ExitCode::SUCCESS
}

/// SIGTERM to every node, then SIGKILL to those still running after 30 s.
fn stop(children: &mut [Child]) {
    for child in children.iter() {
        if let Ok(pid) = i32::try_from(child.id()) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    for child in children.iter_mut() {
        while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        if matches!(child.try_wait(), Ok(None)) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
