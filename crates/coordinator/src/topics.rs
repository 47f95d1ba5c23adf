//! What the coordinator knows of the cluster's topics: names, ids and partition counts, given
//! by the broker with each consumer-protocol call (KIP-848 subscriptions are resolved against
//! it, and a change in it moves the group epoch so assignments follow the topics).
//!
//! The coordinator never reads metadata on its own: the broker builds a [`TopicsImage`] from its
//! metadata store and passes it in, as Kafka's coordinator receives `MetadataImage` deltas.

use std::collections::{BTreeMap, HashMap};

use protocol::Uuid;

/// One topic as the coordinator sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicImage {
    pub name: String,
    pub id: Uuid,
    pub partitions: i32,
}

/// The topics that exist now, by name and by id.
#[derive(Debug, Clone, Default)]
pub struct TopicsImage {
    by_name: BTreeMap<String, TopicImage>,
    name_by_id: HashMap<Uuid, String>,
}

impl TopicsImage {
    pub fn new(topics: impl IntoIterator<Item = TopicImage>) -> Self {
        let mut image = TopicsImage::default();
        for topic in topics {
            image.name_by_id.insert(topic.id, topic.name.clone());
            image.by_name.insert(topic.name.clone(), topic);
        }
        image
    }

    pub fn topic(&self, name: &str) -> Option<&TopicImage> {
        self.by_name.get(name)
    }

    pub fn name_of(&self, id: Uuid) -> Option<&str> {
        self.name_by_id.get(&id).map(String::as_str)
    }

    pub fn topics(&self) -> impl Iterator<Item = &TopicImage> {
        self.by_name.values()
    }

    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }
}
