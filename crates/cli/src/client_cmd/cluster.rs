//! `runnel cluster`: the cluster id, the brokers, the controller the cluster names (a KRaft
//! cluster shows clients a broker in its place, as Kafka does) and the finalized features from
//! ApiVersions (`metadata.version`, `kraft.version`, ...).

use std::process::ExitCode;

use super::{CommandError, ConnectArgs, print_out, table};

#[derive(clap::Args, Debug)]
pub struct ClusterArgs {
    #[command(flatten)]
    connect: ConnectArgs,
}

pub fn run(args: ClusterArgs) -> ExitCode {
    super::run("cluster", execute(args))
}

async fn execute(args: ClusterArgs) -> Result<(), CommandError> {
    let mut client = args.connect.connect().await?;
    let cluster = client.describe_cluster().await?;
    let (features, epoch) = client.finalized_features().await?;
    let mut out = format!(
        "Cluster id: {}\nController: {}\nNodes:\n",
        cluster.cluster_id.as_deref().unwrap_or("(none)"),
        if cluster.controller_id < 0 {
            "(unknown)".to_string()
        } else {
            cluster.controller_id.to_string()
        }
    );
    let mut rows = vec![vec!["ID".to_string(), "HOST:PORT".into(), "RACK".into()]];
    for broker in &cluster.brokers {
        rows.push(vec![
            broker.node_id.to_string(),
            format!("{}:{}", broker.host, broker.port),
            broker.rack.clone().unwrap_or_else(|| "-".into()),
        ]);
    }
    out.push_str(&indent(&table(&rows)));
    if features.is_empty() {
        out.push_str("Finalized features: (none)\n");
    } else {
        out.push_str(&format!("Finalized features (epoch {epoch}):\n"));
        let mut rows = vec![vec!["FEATURE".to_string(), "LEVEL".into()]];
        let mut features = features;
        features.sort_by(|a, b| a.name.cmp(&b.name));
        for feature in features {
            let level = if feature.min_version_level == feature.max_version_level {
                feature.max_version_level.to_string()
            } else {
                format!(
                    "{}-{}",
                    feature.min_version_level, feature.max_version_level
                )
            };
            rows.push(vec![feature.name, level]);
        }
        out.push_str(&indent(&table(&rows)));
    }
    print_out(&out)?;
    Ok(())
}

fn indent(text: &str) -> String {
    text.lines().map(|line| format!("  {line}\n")).collect()
}
