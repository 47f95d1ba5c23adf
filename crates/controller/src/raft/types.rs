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

/// What applying one log entry returned: `None` for openraft's own entries (blank, membership).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandResponse(pub Option<Result<Outcome, ControllerError>>);

openraft::declare_raft_types!(
    /// The metadata quorum's openraft types.
    pub MetadataRaft:
        D = MetadataCommand,
        R = CommandResponse,
        NodeId = NodeId,
        Node = openraft::BasicNode,
);

pub type LogId = openraft::type_config::alias::LogIdOf<MetadataRaft>;
pub type Vote = openraft::type_config::alias::VoteOf<MetadataRaft>;
pub type Entry = openraft::type_config::alias::EntryOf<MetadataRaft>;
pub type StoredMembership = openraft::type_config::alias::StoredMembershipOf<MetadataRaft>;
pub type SnapshotMeta = openraft::type_config::alias::SnapshotMetaOf<MetadataRaft>;
/// A snapshot's bytes: the serialized [`crate::raft::state_machine::SnapshotFile`].
pub type SnapshotData = Vec<u8>;
pub type Snapshot = openraft::type_config::alias::SnapshotOf<MetadataRaft, SnapshotData>;
