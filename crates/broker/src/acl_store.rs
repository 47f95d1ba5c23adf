//! Where ACLs are recorded: on a single node in `MetadataStore`'s file, in a cluster as
//! `CreateAcls`/`DeleteAcls` commands in the controller's log (Kafka's
//! AccessControlEntryRecord and its removal), mirrored into every node's `MetadataStore` with
//! the rest of the image. Both return once this node's authorizer sees the change, or after
//! METADATA_APPLY_TIMEOUT once it is committed.

use std::collections::BTreeSet;
use std::sync::Arc;

use security::acl::AclBinding;

use crate::broker::Broker;
use crate::error::BrokerError;
use crate::metadata::MetadataStore;
use crate::metadata_writer::METADATA_APPLY_TIMEOUT;

/// Records `added` and drops `removed` (each an exact binding; absent ones are skipped).
pub async fn change(
    broker: &Arc<Broker>,
    added: Vec<AclBinding>,
    removed: Vec<AclBinding>,
) -> Result<(), BrokerError> {
    if added.is_empty() && removed.is_empty() {
        return Ok(());
    }
    let Some(cluster) = broker.cluster.get() else {
        let broker = broker.clone();
        return tokio::task::spawn_blocking(move || broker.metadata.change_acls(&added, &removed))
            .await
            .map_err(|e| BrokerError::Config(format!("recording ACLs: {e}")))?;
    };
    if !added.is_empty() {
        cluster
            .propose(controller::MetadataCommand::CreateAcls {
                acls: added.clone(),
            })
            .await?;
    }
    if !removed.is_empty() {
        cluster
            .propose(controller::MetadataCommand::DeleteAcls {
                acls: removed.clone(),
            })
            .await?;
    }
    let shown = |metadata: &MetadataStore| {
        let acls = metadata.acls();
        let acls: BTreeSet<&AclBinding> = acls.iter().collect();
        added.iter().all(|a| acls.contains(a)) && removed.iter().all(|r| !acls.contains(r))
    };
    if broker
        .metadata
        .wait_for(METADATA_APPLY_TIMEOUT, shown)
        .await
        .is_err()
    {
        tracing::debug!("committed ACLs not yet applied on this node");
    }
    Ok(())
}
