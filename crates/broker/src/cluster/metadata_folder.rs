//! The identity of a controller's metadata folder on a dynamic quorum (KIP-853):
//! `meta.properties` in the metadata log directory, in Kafka's format (`version=1`,
//! `cluster.id`, `node.id`, `directory.id`), which Kafka's `kafka-metadata-quorum
//! add-controller` reads; and `bootstrap.voters`, the voters `runnel format --standalone` chose
//! to form a new quorum with (Kafka keeps them in its bootstrap checkpoint).
//!
//! A folder without `meta.properties` gets a new random directory id at start, so a voter whose
//! folder was emptied comes back as another member, which votes only once added again.

use std::collections::BTreeMap;
use std::path::Path;

use controller::VoterNode;

use crate::error::BrokerError;
use crate::metadata::{random_uuid, write_atomically};

const META_PROPERTIES: &str = "meta.properties";
const BOOTSTRAP_VOTERS: &str = "bootstrap.voters";
/// Bound on the files read here (they hold a few short lines).
const FILE_BYTES_MAX: u64 = 64 * 1024;

/// What the metadata folder says about this controller.
#[derive(Debug, Clone)]
pub struct MetadataFolder {
    pub directory_id: String,
    /// The voters to form a quorum with while the folder has no quorum state (empty: join).
    pub initial_voters: BTreeMap<u64, VoterNode>,
}

fn read_small(path: &Path) -> Result<Option<String>, BrokerError> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.len() > FILE_BYTES_MAX => Err(BrokerError::Config(format!(
            "{} is over {FILE_BYTES_MAX} bytes",
            path.display()
        ))),
        Ok(_) => std::fs::read_to_string(path)
            .map(Some)
            .map_err(|e| BrokerError::io("reading the metadata folder", e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(BrokerError::io("reading the metadata folder", e)),
    }
}

fn properties(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

fn write_meta(dir: &Path, node_id: i32, cluster_id: &str) -> Result<String, BrokerError> {
    let directory_id = random_uuid().to_string();
    let text = format!(
        "#Written by Runnel\nversion=1\ncluster.id={cluster_id}\nnode.id={node_id}\n\
         directory.id={directory_id}\n"
    );
    write_atomically(&dir.join(META_PROPERTIES), text.as_bytes())
        .map_err(|e| BrokerError::io("writing meta.properties", e))?;
    Ok(directory_id)
}

/// Opens the metadata folder of controller `node_id`, giving it a directory id if it has none.
pub fn open(dir: &Path, node_id: i32, cluster_id: &str) -> Result<MetadataFolder, BrokerError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| BrokerError::io("creating the metadata directory", e))?;
    let path = dir.join(META_PROPERTIES);
    let directory_id = match read_small(&path)? {
        Some(text) => {
            let keys = properties(&text);
            if keys
                .get("node.id")
                .is_some_and(|id| *id != node_id.to_string())
            {
                return Err(BrokerError::Config(format!(
                    "{} belongs to node {}, not {node_id}",
                    path.display(),
                    keys["node.id"]
                )));
            }
            match keys.get("directory.id") {
                Some(id) if protocol::Uuid::parse(id).is_some() => id.clone(),
                Some(id) => {
                    return Err(BrokerError::Config(format!(
                        "{} has an invalid directory.id {id:?}",
                        path.display()
                    )));
                }
                None => write_meta(dir, node_id, cluster_id)?,
            }
        }
        None => write_meta(dir, node_id, cluster_id)?,
    };
    let initial_voters = match read_small(&dir.join(BOOTSTRAP_VOTERS))? {
        Some(text) => parse_voters(&text)?,
        None => BTreeMap::new(),
    };
    Ok(MetadataFolder {
        directory_id,
        initial_voters,
    })
}

/// Parses `id@host:port:directory` entries (Kafka's `--initial-controllers` syntax), one per
/// line or comma separated.
pub fn parse_voters(text: &str) -> Result<BTreeMap<u64, VoterNode>, BrokerError> {
    let bad = |entry: &str| {
        BrokerError::Config(format!(
            "bad initial controller {entry:?}: expected id@host:port:directory-id"
        ))
    };
    let mut voters = BTreeMap::new();
    for entry in text
        .split([',', '\n'])
        .map(str::trim)
        .filter(|e| !e.is_empty() && !e.starts_with('#'))
    {
        let (id, rest) = entry.split_once('@').ok_or_else(|| bad(entry))?;
        let id: u64 = id.parse().map_err(|_| bad(entry))?;
        let (address, directory) = rest.rsplit_once(':').ok_or_else(|| bad(entry))?;
        let (host, port) = address.rsplit_once(':').ok_or_else(|| bad(entry))?;
        if host.is_empty()
            || port.parse::<u16>().is_err()
            || protocol::Uuid::parse(directory).is_none()
        {
            return Err(bad(entry));
        }
        let node = VoterNode {
            addr: address.to_string(),
            directory_id: Some(directory.to_string()),
        };
        if voters.insert(id, node).is_some() {
            return Err(bad(entry));
        }
    }
    Ok(voters)
}

/// `runnel format`: writes a new `meta.properties` and, with `standalone`, makes this controller
/// (listening on `address`) the only voter of the quorum it will form. Refuses a folder that
/// is already formatted.
pub fn format(
    dir: &Path,
    node_id: i32,
    cluster_id: &str,
    address: &str,
    standalone: bool,
) -> Result<String, BrokerError> {
    if dir.join(META_PROPERTIES).exists() {
        return Err(BrokerError::Config(format!(
            "{} is already formatted (it has meta.properties)",
            dir.display()
        )));
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| BrokerError::io("creating the metadata directory", e))?;
    let directory_id = write_meta(dir, node_id, cluster_id)?;
    if standalone {
        let text = format!("{node_id}@{address}:{directory_id}\n");
        write_atomically(&dir.join(BOOTSTRAP_VOTERS), text.as_bytes())
            .map_err(|e| BrokerError::io("writing bootstrap.voters", e))?;
    }
    Ok(directory_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_keeps_its_directory_id_and_an_emptied_one_gets_another() {
        let dir = tempfile::tempdir().unwrap();
        let first = open(dir.path(), 1, "c").unwrap().directory_id;
        assert_eq!(open(dir.path(), 1, "c").unwrap().directory_id, first);
        let text = std::fs::read_to_string(dir.path().join(META_PROPERTIES)).unwrap();
        assert!(text.contains(&format!("directory.id={first}")), "{text}");
        assert!(open(dir.path(), 2, "c").is_err(), "another node's folder");
        std::fs::remove_dir_all(dir.path()).unwrap();
        assert_ne!(open(dir.path(), 1, "c").unwrap().directory_id, first);
    }

    #[test]
    fn standalone_format_names_this_controller_the_only_voter() {
        let dir = tempfile::tempdir().unwrap();
        let id = format(dir.path(), 3, "c", "127.0.0.1:9093", true).unwrap();
        let folder = open(dir.path(), 3, "c").unwrap();
        assert_eq!(folder.directory_id, id);
        assert_eq!(folder.initial_voters.len(), 1);
        assert_eq!(folder.initial_voters[&3].addr, "127.0.0.1:9093");
        assert_eq!(
            folder.initial_voters[&3].directory_id.as_deref(),
            Some(id.as_str())
        );
        assert!(format(dir.path(), 3, "c", "127.0.0.1:9093", true).is_err());
    }

    #[test]
    fn initial_voters_are_checked() {
        assert!(parse_voters("1@h:1:notauuid").is_err());
        assert!(parse_voters("x@h:1:AAAAAAAAAAAAAAAAAAAAAA").is_err());
        assert!(parse_voters("1@h:1:AAAAAAAAAAAAAAAAAAAAAA,1@h:2:AAAAAAAAAAAAAAAAAAAAAA").is_err());
        assert_eq!(
            parse_voters("1@h:1:AAAAAAAAAAAAAAAAAAAAAA\n")
                .unwrap()
                .len(),
            1
        );
    }
}
