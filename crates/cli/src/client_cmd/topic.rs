//! `runnel topic create|list|describe|delete|alter-config`: topics through CreateTopics,
//! Metadata, DescribeConfigs, DeleteTopics and IncrementalAlterConfigs. `describe` prints what
//! Kafka's `kafka-topics.sh --describe` prints, in the same layout.

use std::process::ExitCode;

use client::admin::SOURCE_DYNAMIC_TOPIC_CONFIG;

use super::{CommandError, ConnectArgs, key_value, print_out};

#[derive(clap::Args, Debug)]
pub struct TopicArgs {
    #[command(subcommand)]
    command: TopicCommand,
    #[command(flatten)]
    connect: ConnectArgs,
}

#[derive(clap::Subcommand, Debug)]
enum TopicCommand {
    /// Create a topic.
    Create {
        name: String,
        /// How many partitions.
        #[arg(long, value_name = "N")]
        partitions: i32,
        /// Copies of each partition (default: the broker's default.replication.factor).
        #[arg(long, value_name = "R")]
        replication_factor: Option<i16>,
        /// A topic config; repeatable: --config retention.ms=3600000
        #[arg(long = "config", value_name = "KEY=VALUE", value_parser = key_value)]
        configs: Vec<(String, String)>,
    },
    /// List topic names, one a line.
    List {
        /// Internal topics too (__consumer_offsets, ...).
        #[arg(long)]
        include_internal: bool,
    },
    /// Show a topic's partitions (leader, replicas, ISR) and the configs set on it.
    Describe { name: String },
    /// Delete a topic.
    Delete { name: String },
    /// Set (or remove) topic configs.
    AlterConfig {
        name: String,
        /// Set a config; repeatable.
        #[arg(long = "config", value_name = "KEY=VALUE", value_parser = key_value)]
        configs: Vec<(String, String)>,
        /// Remove a config so the default applies again; repeatable.
        #[arg(long = "delete-config", value_name = "KEY")]
        delete: Vec<String>,
    },
}

pub fn run(args: TopicArgs) -> ExitCode {
    super::run("topic", execute(args))
}

async fn execute(args: TopicArgs) -> Result<(), CommandError> {
    let mut client = args.connect.connect().await?;
    match args.command {
        TopicCommand::Create {
            name,
            partitions,
            replication_factor,
            configs,
        } => {
            let created = client
                .create_topic(&name, partitions, replication_factor, &configs)
                .await?;
            print_out(&format!("Created topic {}.\n", created.name))?;
        }
        TopicCommand::List { include_internal } => {
            let metadata = client.metadata(None).await?;
            let mut out = String::new();
            for topic in metadata.topics.values() {
                if include_internal || !topic.is_internal {
                    out.push_str(&topic.name);
                    out.push('\n');
                }
            }
            print_out(&out)?;
        }
        TopicCommand::Describe { name } => {
            let topic = client.topic(&name).await?;
            let configs = client.describe_topic_configs(&name).await?;
            let overrides: Vec<String> = configs
                .iter()
                .filter(|c| c.source == SOURCE_DYNAMIC_TOPIC_CONFIG)
                .map(|c| match &c.value {
                    Some(value) if !c.is_sensitive => format!("{}={value}", c.name),
                    _ => format!("{}=(sensitive)", c.name),
                })
                .collect();
            let mut out = format!(
                "Topic: {}\tTopicId: {}\tPartitionCount: {}\tReplicationFactor: {}\tConfigs: {}\n",
                topic.name,
                topic.topic_id,
                topic.partitions.len(),
                topic.replication_factor(),
                overrides.join(",")
            );
            for partition in &topic.partitions {
                let leader = if partition.leader < 0 {
                    "none".to_string()
                } else {
                    partition.leader.to_string()
                };
                out.push_str(&format!(
                    "\tTopic: {}\tPartition: {}\tLeader: {}\tReplicas: {}\tIsr: {}",
                    topic.name,
                    partition.partition,
                    leader,
                    join(&partition.replicas),
                    join(&partition.isr)
                ));
                if !partition.offline_replicas.is_empty() {
                    out.push_str(&format!("\tOffline: {}", join(&partition.offline_replicas)));
                }
                out.push('\n');
            }
            print_out(&out)?;
        }
        TopicCommand::Delete { name } => {
            client.delete_topic(&name).await?;
            print_out(&format!("Deleted topic {name}.\n"))?;
        }
        TopicCommand::AlterConfig {
            name,
            configs,
            delete,
        } => {
            if configs.is_empty() && delete.is_empty() {
                return Err(CommandError::Input(
                    "nothing to change: give --config KEY=VALUE or --delete-config KEY".into(),
                ));
            }
            client.alter_topic_configs(&name, &configs, &delete).await?;
            print_out(&format!("Updated the configs of topic {name}.\n"))?;
        }
    }
    Ok(())
}

fn join(nodes: &[i32]) -> String {
    nodes
        .iter()
        .map(i32::to_string)
        .collect::<Vec<_>>()
        .join(",")
}
