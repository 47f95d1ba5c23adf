//! Where client quotas are recorded: on a single node in `MetadataStore`'s file, in a cluster
//! as an `AlterClientQuotas` command in the controller's log (Kafka's ClientQuotaRecords),
//! mirrored into every node's `MetadataStore` with the rest of the image. Returns once this
//! node enforces the change, or after METADATA_APPLY_TIMEOUT once it is committed.

use std::sync::Arc;

use security::quota::QuotaChange;

use crate::broker::Broker;
use crate::error::BrokerError;
use crate::metadata::MetadataStore;
use crate::metadata_writer::METADATA_APPLY_TIMEOUT;

/// Applies `changes` (all or none; each value checked).
pub async fn change(broker: &Arc<Broker>, changes: Vec<QuotaChange>) -> Result<(), BrokerError> {
    if changes.is_empty() {
        return Ok(());
    }
    let Some(cluster) = broker.cluster.get() else {
        let broker = broker.clone();
        return tokio::task::spawn_blocking(move || broker.metadata.change_client_quotas(&changes))
            .await
            .map_err(|e| BrokerError::Config(format!("recording client quotas: {e}")))?;
    };
    cluster
        .propose(controller::MetadataCommand::AlterClientQuotas {
            changes: changes.clone(),
        })
        .await?;
    let shown = |metadata: &MetadataStore| {
        let quotas = metadata.client_quotas();
        changes.iter().all(|change| {
            let now = quotas
                .get(&change.entity)
                .and_then(|keys| keys.get(&change.key));
            now == change.value.as_ref()
        })
    };
    if broker
        .metadata
        .wait_for(METADATA_APPLY_TIMEOUT, shown)
        .await
        .is_err()
    {
        tracing::debug!("committed client quotas not yet applied on this node");
    }
    Ok(())
}
