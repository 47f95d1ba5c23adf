//! The openraft type configuration of the metadata quorum: node ids are `node.id`s, entries
//! carry [`MetadataCommand`]s, responses carry the command's result.
//!
//! Only this module and its siblings under `raft/` name openraft types; the rest of the crate and
//! its users see [`crate::ControllerNode`] and [`crate::MetadataQuorum`].

use serde::{Deserialize, Serialize};

use crate::command::{MetadataCommand, Outcome};
use crate::error::ControllerError;

/// A controller's `node.id` in `controller.quorum.voters`.
pub type NodeId = u64;

/// A member of the quorum's membership (a voter or an observer): its controller listener and,
/// on a dynamic quorum (KIP-853), the directory id of its metadata log directory, which tells
/// a voter from the same node come back with an empty folder. Its JSON is openraft's
/// `BasicNode` (`{"addr": ...}`) plus the directory id, so logs written before it still read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoterNode {
    /// The controller listener's `host:port`.
    pub addr: String,
    /// `directory.id` of its metadata log directory (`meta.properties`); `None` on a static
    /// quorum (`controller.quorum.voters`), which does not tell folders apart, as in Kafka.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub directory_id: Option<String>,
}

impl VoterNode {
    /// A member of a static quorum.
    pub fn at(addr: impl Into<String>) -> Self {
        VoterNode {
            addr: addr.into(),
            directory_id: None,
        }
    }
}

impl std::fmt::Display for VoterNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.directory_id {
            Some(directory) => write!(f, "{} (directory {directory})", self.addr),
            None => f.write_str(&self.addr),
        }
    }
}

/// What applying one log entry returned: `None` for openraft's own entries (blank, membership).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandResponse(pub Option<Result<Outcome, ControllerError>>);

openraft::declare_raft_types!(
    /// The metadata quorum's openraft types.
    pub MetadataRaft:
        D = MetadataCommand,
        R = CommandResponse,
        NodeId = NodeId,
        Node = VoterNode,
);

pub type LogId = openraft::type_config::alias::LogIdOf<MetadataRaft>;
pub type Vote = openraft::type_config::alias::VoteOf<MetadataRaft>;
pub type Entry = openraft::type_config::alias::EntryOf<MetadataRaft>;
pub type StoredMembership = openraft::type_config::alias::StoredMembershipOf<MetadataRaft>;
pub type SnapshotMeta = openraft::type_config::alias::SnapshotMetaOf<MetadataRaft>;
/// A snapshot's bytes: the serialized [`crate::raft::state_machine::SnapshotFile`].
pub type SnapshotData = Vec<u8>;
pub type Snapshot = openraft::type_config::alias::SnapshotOf<MetadataRaft, SnapshotData>;
