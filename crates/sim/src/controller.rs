//! The active controller of the simulated cluster: the real metadata image
//! (`controller::MetadataImage::apply`, with its election, fencing and AlterPartition rules) and
//! the real broker sessions (`controller::BrokerSessions`), driven by the simulator's clock.
//!
//! A model, not the real quorum: the metadata log is one in-memory sequence of applied commands
//! (each takes the next log index, as openraft would give it), and the controller never fails
//! or loses its lease. What its heartbeat answer does mirrors `ControllerService::heartbeat_local`
//! (unknown or stale broker epoch refused; the session clock restarted; a fenced broker that is
//! not shutting down unfenced through the log; the answer carries the metadata offset).

use std::collections::BTreeMap;
use std::sync::Arc;

use broker::replica::BrokerId;
use controller::{
    BrokerSessions, ConfigResource, ControllerError, HeartbeatReply, MetadataCommand,
    MetadataImage, Outcome, TopicId,
};

/// The simulated topic: one partition replicated on every broker.
pub const TOPIC: &str = "sim";
pub const TOPIC_ID: TopicId = TopicId(0x5157);

/// The metadata state machine and the session clocks.
pub struct Controller {
    image: Arc<MetadataImage>,
    sessions: BrokerSessions,
    /// Registrations per broker, to give each a distinct incarnation id.
    incarnations: BTreeMap<BrokerId, u128>,
}

impl Controller {
    /// A cluster whose brokers are registered and unfenced, with the topic created (every
    /// broker in the ISR); `unclean` sets `unclean.leader.election.enable` on it.
    pub fn new(brokers: i32, session_timeout_ms: i64, min_isr: i32, unclean: bool) -> Self {
        let mut controller = Controller {
            image: Arc::new(MetadataImage::new()),
            sessions: BrokerSessions::new(session_timeout_ms),
            incarnations: BTreeMap::new(),
        };
        for broker in 0..brokers {
            let epoch = controller.register(broker, 0);
            controller
                .propose(MetadataCommand::BrokerHeartbeat {
                    broker_id: broker,
                    broker_epoch: epoch,
                    want_fence: false,
                })
                .expect("a registered broker is unfenced");
        }
        let mut configs = BTreeMap::new();
        configs.insert("min.insync.replicas".to_string(), min_isr.to_string());
        controller
            .propose(MetadataCommand::CreateTopic {
                name: TOPIC.to_string(),
                topic_id: TOPIC_ID,
                partitions: 1,
                replication_factor: brokers,
                assignment: Some(vec![(0..brokers).collect()]),
                configs,
            })
            .expect("the topic is valid");
        if unclean {
            controller
                .propose(MetadataCommand::SetConfig {
                    resource: ConfigResource::Topic(TOPIC.to_string()),
                    key: "unclean.leader.election.enable".to_string(),
                    value: Some("true".to_string()),
                })
                .expect("a topic config");
        }
        controller
    }

    pub fn image(&self) -> &Arc<MetadataImage> {
        &self.image
    }

    /// Appends `command` to the metadata log and applies it (a refused command takes its log
    /// index too, as a committed entry whose apply failed).
    pub fn propose(&mut self, command: MetadataCommand) -> Result<Outcome, ControllerError> {
        let mut image = (*self.image).clone();
        let offset = image.offset + 1;
        let result = image.apply(offset as i64, &command);
        if result.is_err() {
            // Apply leaves the image unchanged on error.
            image = (*self.image).clone();
        }
        image.offset = offset;
        image
            .check_invariants()
            .expect("the image's invariants hold");
        self.image = Arc::new(image);
        result
    }

    /// `RegisterBroker` from `broker` at `now_ms`: its new broker epoch.
    pub fn register(&mut self, broker: BrokerId, now_ms: i64) -> i64 {
        let incarnation = self.incarnations.entry(broker).or_insert(0);
        *incarnation += 1;
        let command = MetadataCommand::RegisterBroker {
            broker_id: broker,
            incarnation_id: *incarnation,
            rack: None,
            listeners: Vec::new(),
            previous_broker_epoch: -1,
        };
        let epoch = match self.propose(command) {
            Ok(Outcome::BrokerRegistered { broker_epoch }) => broker_epoch,
            other => panic!("registration always applies: {other:?}"),
        };
        self.sessions.observe(&self.image, now_ms);
        self.sessions.heartbeat(broker, now_ms);
        epoch
    }

    /// A broker's heartbeat (`heartbeat_local`).
    pub fn heartbeat(
        &mut self,
        broker: BrokerId,
        broker_epoch: i64,
        now_ms: i64,
    ) -> Result<HeartbeatReply, ControllerError> {
        let registration = self
            .image
            .brokers
            .get(&broker)
            .cloned()
            .ok_or(ControllerError::UnknownBroker { broker_id: broker })?;
        if registration.broker_epoch != broker_epoch {
            return Err(ControllerError::StaleBrokerEpoch {
                broker_id: broker,
                requested: broker_epoch,
                current: registration.broker_epoch,
            });
        }
        self.sessions.heartbeat(broker, now_ms);
        if registration.fenced && !registration.in_controlled_shutdown {
            let command = MetadataCommand::BrokerHeartbeat {
                broker_id: broker,
                broker_epoch,
                want_fence: false,
            };
            return match self.propose(command)? {
                Outcome::Heartbeat {
                    fenced,
                    in_controlled_shutdown,
                } => Ok(HeartbeatReply {
                    fenced,
                    in_controlled_shutdown,
                    metadata_offset: self.image.offset,
                }),
                other => panic!("unexpected heartbeat outcome {other:?}"),
            };
        }
        Ok(HeartbeatReply {
            fenced: registration.fenced,
            in_controlled_shutdown: registration.in_controlled_shutdown,
            metadata_offset: self.image.offset,
        })
    }

    /// The liveness tick (`spawn_liveness`): fences every broker whose session expired.
    /// Returns the brokers fenced.
    pub fn expire_sessions(&mut self, now_ms: i64) -> Vec<BrokerId> {
        self.sessions.observe(&self.image, now_ms);
        let mut fenced = Vec::new();
        for command in self.sessions.expired(&self.image, now_ms) {
            if let MetadataCommand::FenceBroker { broker_id } = &command {
                fenced.push(*broker_id);
            }
            let _ = self.propose(command);
        }
        fenced
    }
}
