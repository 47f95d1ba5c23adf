//! `runnel group list|describe|reset-offsets|delete`: consumer groups as
//! `kafka-consumer-groups.sh` shows them. `describe` prints the members and, per partition,
//! the committed offset, the log end offset and the lag between them; `reset-offsets` commits
//! new offsets for a topic as an outsider (the group must have no members, as in Kafka).

use std::collections::{BTreeMap, BTreeSet};
use std::process::ExitCode;

use client::fetch::OffsetSpec;
use client::group::Committer;
use client::{Client, ClientError};
use protocol::ErrorCode;

use super::{CommandError, ConnectArgs, print_out, table};

#[derive(clap::Args, Debug)]
pub struct GroupArgs {
    #[command(subcommand)]
    command: GroupCommand,
    #[command(flatten)]
    connect: ConnectArgs,
}

#[derive(clap::Subcommand, Debug)]
enum GroupCommand {
    /// List the groups of the cluster, with their type and state.
    List,
    /// Show a group's members and, per partition, committed offset, log end offset and lag.
    Describe { group: String },
    /// Set the group's committed offsets of a topic (the group must have no members).
    #[command(group(clap::ArgGroup::new("to").required(true).args(["to_earliest", "to_latest", "to_offset"])))]
    ResetOffsets {
        group: String,
        #[arg(long, value_name = "T")]
        topic: String,
        /// Only this partition; repeatable (default: every partition of the topic).
        #[arg(long = "partition", value_name = "P")]
        partitions: Vec<i32>,
        /// To each partition's log start offset.
        #[arg(long)]
        to_earliest: bool,
        /// To each partition's log end offset.
        #[arg(long)]
        to_latest: bool,
        /// To this offset (kept within each partition's log start and end).
        #[arg(long, value_name = "O")]
        to_offset: Option<i64>,
        /// Print the new offsets without committing them.
        #[arg(long)]
        dry_run: bool,
    },
    /// Delete a group (it must have no members) and its committed offsets.
    Delete { group: String },
}

pub fn run(args: GroupArgs) -> ExitCode {
    super::run("group", execute(args))
}

async fn execute(args: GroupArgs) -> Result<(), CommandError> {
    let mut client = args.connect.connect().await?;
    match args.command {
        GroupCommand::List => {
            let groups = client.list_groups().await?;
            let mut rows = vec![vec!["GROUP".to_string(), "TYPE".into(), "STATE".into()]];
            for group in groups {
                rows.push(vec![
                    group.group_id,
                    or_dash(group.group_type),
                    or_dash(group.state),
                ]);
            }
            print_out(&table(&rows))?;
        }
        GroupCommand::Describe { group } => describe(&mut client, &group).await?,
        GroupCommand::ResetOffsets {
            group,
            topic,
            partitions,
            to_earliest,
            to_latest,
            to_offset,
            dry_run,
        } => {
            let to = match (to_earliest, to_latest, to_offset) {
                (true, _, _) => ResetTo::Earliest,
                (_, true, _) => ResetTo::Latest,
                (_, _, Some(offset)) => ResetTo::Offset(offset),
                _ => unreachable!("clap requires one of --to-earliest, --to-latest, --to-offset"),
            };
            reset_offsets(&mut client, &group, &topic, &partitions, to, dry_run).await?;
        }
        GroupCommand::Delete { group } => {
            client.delete_group(&group).await?;
            print_out(&format!("Deleted group {group}.\n"))?;
        }
    }
    Ok(())
}

async fn describe(client: &mut Client, group: &str) -> Result<(), CommandError> {
    let description = client.describe_group(group).await?;
    let committed = client.committed_offsets(group, None).await?;
    let mut out = format!(
        "Group: {}\tType: {}\tState: {}\tMembers: {}",
        description.group_id,
        description.group_type,
        description.state,
        description.members.len()
    );
    if description.epoch >= 0 {
        out.push_str(&format!("\tEpoch: {}", description.epoch));
    }
    out.push('\n');
    // Who holds each partition, and every partition to show: assigned or committed.
    let mut owner: BTreeMap<(String, i32), String> = BTreeMap::new();
    if !description.members.is_empty() {
        out.push('\n');
        let mut rows = vec![vec![
            "MEMBER-ID".to_string(),
            "CLIENT-ID".into(),
            "HOST".into(),
            "ASSIGNMENT".into(),
        ]];
        for member in &description.members {
            let mut assignment = Vec::new();
            for (topic, partitions) in &member.assignment {
                for &partition in partitions {
                    owner.insert((topic.clone(), partition), member.member_id.clone());
                }
                let list: Vec<String> = partitions.iter().map(i32::to_string).collect();
                assignment.push(format!("{topic}:{}", list.join(",")));
            }
            rows.push(vec![
                member.member_id.clone(),
                or_dash(member.client_id.clone()),
                or_dash(member.client_host.clone()),
                or_dash(assignment.join(" ")),
            ]);
        }
        out.push_str(&table(&rows));
    }
    let mut partitions: BTreeMap<String, BTreeSet<i32>> = BTreeMap::new();
    for (topic, partition) in owner.keys() {
        partitions
            .entry(topic.clone())
            .or_default()
            .insert(*partition);
    }
    for offset in &committed {
        partitions
            .entry(offset.topic.clone())
            .or_default()
            .insert(offset.partition);
    }
    if !partitions.is_empty() {
        out.push('\n');
        let mut rows = vec![vec![
            "TOPIC".to_string(),
            "PARTITION".into(),
            "CURRENT-OFFSET".into(),
            "LOG-END-OFFSET".into(),
            "LAG".into(),
            "MEMBER-ID".into(),
        ]];
        for (topic, partitions) in &partitions {
            let ends = log_end_offsets(client, topic, partitions).await?;
            for &partition in partitions {
                let current = committed
                    .iter()
                    .find(|c| &c.topic == topic && c.partition == partition)
                    .map(|c| c.offset);
                let end = ends.get(&partition).copied();
                let lag = match (current, end) {
                    (Some(current), Some(end)) => (end - current).max(0).to_string(),
                    _ => "-".into(),
                };
                rows.push(vec![
                    topic.clone(),
                    partition.to_string(),
                    current.map_or("-".into(), |o| o.to_string()),
                    end.map_or("-".into(), |o| o.to_string()),
                    lag,
                    owner
                        .get(&(topic.clone(), partition))
                        .cloned()
                        .unwrap_or_else(|| "-".into()),
                ]);
            }
        }
        out.push_str(&table(&rows));
    }
    print_out(&out)?;
    Ok(())
}

/// The log end offsets of `partitions` of `topic`; none when the topic is gone.
async fn log_end_offsets(
    client: &mut Client,
    topic: &str,
    partitions: &BTreeSet<i32>,
) -> Result<BTreeMap<i32, i64>, ClientError> {
    let metadata = match client.topic(topic).await {
        Ok(metadata) => metadata,
        Err(error) if error.kafka_code() == Some(ErrorCode::UnknownTopicOrPartition) => {
            return Ok(BTreeMap::new());
        }
        Err(error) => return Err(error),
    };
    let known: Vec<i32> = partitions
        .iter()
        .copied()
        .filter(|&p| metadata.partition(p).is_some())
        .collect();
    client
        .list_offsets(&metadata, &known, OffsetSpec::Latest)
        .await
}

#[derive(Debug, Clone, Copy)]
enum ResetTo {
    Earliest,
    Latest,
    Offset(i64),
}

async fn reset_offsets(
    client: &mut Client,
    group: &str,
    topic: &str,
    partitions: &[i32],
    to: ResetTo,
    dry_run: bool,
) -> Result<(), CommandError> {
    match client.describe_group(group).await {
        Ok(description) if !description.members.is_empty() => {
            return Err(CommandError::Input(format!(
                "group {group} has {} active members (state {}); offsets can be reset only when \
                 it has none (stop its consumers first)",
                description.members.len(),
                description.state
            )));
        }
        // A group with no members, or none yet: offsets can be set.
        Ok(_) => {}
        Err(error) if error.kafka_code() == Some(ErrorCode::GroupIdNotFound) => {}
        Err(error) => return Err(error.into()),
    }
    let metadata = client.topic(topic).await?;
    let partitions: Vec<i32> = if partitions.is_empty() {
        metadata.partitions.iter().map(|p| p.partition).collect()
    } else {
        for &partition in partitions {
            metadata.require_partition(partition)?;
        }
        partitions.to_vec()
    };
    let offsets = match to {
        ResetTo::Earliest => {
            client
                .list_offsets(&metadata, &partitions, OffsetSpec::Earliest)
                .await?
        }
        ResetTo::Latest => {
            client
                .list_offsets(&metadata, &partitions, OffsetSpec::Latest)
                .await?
        }
        ResetTo::Offset(offset) => {
            let earliest = client
                .list_offsets(&metadata, &partitions, OffsetSpec::Earliest)
                .await?;
            let latest = client
                .list_offsets(&metadata, &partitions, OffsetSpec::Latest)
                .await?;
            partitions
                .iter()
                .map(|&p| {
                    let low = earliest.get(&p).copied().unwrap_or(0);
                    let high = latest.get(&p).copied().unwrap_or(low).max(low);
                    (p, offset.clamp(low, high))
                })
                .collect()
        }
    };
    if !dry_run {
        client
            .commit_offsets(group, Committer::OUTSIDER, &metadata, &offsets)
            .await?;
    }
    let mut rows = vec![vec![
        "GROUP".to_string(),
        "TOPIC".into(),
        "PARTITION".into(),
        "NEW-OFFSET".into(),
    ]];
    for (partition, offset) in &offsets {
        rows.push(vec![
            group.to_string(),
            topic.to_string(),
            partition.to_string(),
            offset.to_string(),
        ]);
    }
    let mut out = table(&rows);
    if dry_run {
        out.push_str("(dry run: nothing committed)\n");
    }
    print_out(&out)?;
    Ok(())
}

fn or_dash(text: String) -> String {
    if text.is_empty() { "-".into() } else { text }
}
