//! Queue pushes into the embedded store, when no Redis is configured:
//! `wasm-listeners queue pop NAME` reads them back.

use crate::host::{QueueBackend, QueueBackendError};
use crate::store::Store;

/// Pushes onto the embedded store's queues.
#[derive(Debug, Clone)]
pub struct EmbeddedQueue {
    store: Store,
}

impl EmbeddedQueue {
    /// A backend writing into `store`.
    pub fn new(store: Store) -> EmbeddedQueue {
        EmbeddedQueue { store }
    }
}

#[async_trait::async_trait]
impl QueueBackend for EmbeddedQueue {
    async fn push(
        &self,
        queue: &str,
        payload: &[u8],
        max_length: Option<u64>,
    ) -> Result<(), QueueBackendError> {
        let Some(max) = max_length else {
            let pushed = self.store.push(queue, payload).await;
            return pushed.map_err(QueueBackendError::Store);
        };
        match self.store.push_within(queue, payload, max).await? {
            true => Ok(()),
            false => Err(QueueBackendError::full(queue, max)),
        }
    }
}
