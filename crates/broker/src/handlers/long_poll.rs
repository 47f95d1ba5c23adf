//! The wait of a long-polling fetch, a consumer's (`fetch.rs`) or a follower's
//! (`replica_fetch.rs`): armed on the partitions before they are read, so an append (or a high
//! watermark move) between the read and the wait still wakes it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;

use tokio::sync::futures::Notified;
use tokio::time::Instant;

use crate::broker::Broker;
use crate::partitions::Partition;

/// Wake-ups registered on a set of partitions.
pub struct AppendWait<'a> {
    notified: Vec<Pin<Box<Notified<'a>>>>,
}

impl<'a> AppendWait<'a> {
    /// Registers on every partition; do this before reading them.
    pub fn arm(partitions: impl IntoIterator<Item = &'a Arc<Partition>>) -> Self {
        let notified = partitions
            .into_iter()
            .map(|partition| {
                let mut notified = Box::pin(partition.appended());
                notified.as_mut().enable();
                notified
            })
            .collect();
        Self { notified }
    }

    /// Waits until an armed partition is woken, `deadline` passes, or the broker begins to
    /// shut down; returns true in the last case.
    pub async fn wait(mut self, broker: &Broker, deadline: Instant) -> bool {
        let any_append = std::future::poll_fn(|cx| {
            if self
                .notified
                .iter_mut()
                .any(|n| n.as_mut().poll(cx).is_ready())
            {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        });
        tokio::select! {
            _ = any_append => false,
            _ = tokio::time::sleep_until(deadline) => false,
            _ = broker.shutdown_begun() => true,
        }
    }
}
