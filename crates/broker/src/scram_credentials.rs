//! Users' SCRAM credentials, kept as user entity configs in the metadata (the key is the
//! mechanism's name, the value `salt=...,stored_key=...,server_key=...,iterations=...`, the
//! form Kafka's ZooKeeper-era brokers stored): on a single node in `MetadataStore`'s file, in a
//! cluster as `SetConfig` on a user through the controller's log, mirrored into every node's
//! `MetadataStore`. SCRAM authentication reads them ([`lookup`]); AlterUserScramCredentials
//! changes them ([`apply`]). Passwords are never stored: only the salt and the derived keys.

use std::sync::Arc;

use security::sasl::Mechanism;
use security::sasl::scram::ScramCredential;

use crate::broker::Broker;
use crate::error::BrokerError;
use crate::metadata_writer::METADATA_APPLY_TIMEOUT;

/// The keys SCRAM credentials are stored under.
const SCRAM_MECHANISMS: [Mechanism; 2] = [Mechanism::ScramSha256, Mechanism::ScramSha512];

/// One change: a user's credential for a mechanism, set (`Some`) or deleted (`None`).
pub type CredentialChange = (String, Mechanism, Option<ScramCredential>);

/// The stored credential of `user` for `mechanism`.
pub fn lookup(broker: &Broker, user: &str, mechanism: Mechanism) -> Option<ScramCredential> {
    let value = broker.metadata.user_config(user, mechanism.name())?;
    ScramCredential::from_config_value(&value)
}

/// The mechanisms `user` has a credential for, with their iterations.
pub fn describe(broker: &Broker, user: &str) -> Vec<(Mechanism, i32)> {
    SCRAM_MECHANISMS
        .into_iter()
        .filter_map(|m| lookup(broker, user, m).map(|c| (m, c.iterations)))
        .collect()
}

/// Every user with at least one SCRAM credential.
pub fn users(broker: &Broker) -> Vec<String> {
    broker
        .metadata
        .user_configs()
        .into_iter()
        .filter(|(_, configs)| {
            SCRAM_MECHANISMS
                .iter()
                .any(|m| configs.contains_key(m.name()))
        })
        .map(|(user, _)| user)
        .collect()
}

/// Records `changes`; they are visible to this node's authentications when it returns.
pub async fn apply(
    broker: &Arc<Broker>,
    changes: Vec<CredentialChange>,
) -> Result<(), BrokerError> {
    let entries: Vec<(String, String, Option<String>)> = changes
        .into_iter()
        .map(|(user, mechanism, credential)| {
            (
                user,
                mechanism.name().to_string(),
                credential.map(|c| c.to_config_value()),
            )
        })
        .collect();
    if entries.is_empty() {
        return Ok(());
    }
    let Some(cluster) = broker.cluster.get() else {
        let broker = broker.clone();
        return tokio::task::spawn_blocking(move || broker.metadata.change_user_configs(&entries))
            .await
            .map_err(|e| BrokerError::Config(format!("recording SCRAM credentials: {e}")))?;
    };
    for (user, key, value) in entries.clone() {
        cluster
            .propose(controller::MetadataCommand::SetConfig {
                resource: controller::ConfigResource::User(user),
                key,
                value,
            })
            .await?;
    }
    let shown = |metadata: &crate::metadata::MetadataStore| {
        entries
            .iter()
            .all(|(user, key, value)| metadata.user_config(user, key) == *value)
    };
    if broker
        .metadata
        .wait_for(METADATA_APPLY_TIMEOUT, shown)
        .await
        .is_err()
    {
        // Committed either way; this node shows it once it applies the image.
        tracing::debug!("committed SCRAM credentials not yet applied on this node");
    }
    Ok(())
}
