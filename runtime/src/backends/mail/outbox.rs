//! [`OutboxBackend`]: every message as an `.eml` file in a folder.

use super::build;
use crate::host::{Email, EmailBackend, EmailBackendError};
use lettre::{AsyncFileTransport, AsyncTransport, Tokio1Executor};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Writes every message as `<uuid>.eml` into a folder: the backend when no SMTP server is
/// configured. It ignores the deadline: a local write is quick and cannot be half-sent.
#[derive(Debug, Clone)]
pub struct OutboxBackend {
    dir: PathBuf,
    transport: AsyncFileTransport<Tokio1Executor>,
}

impl OutboxBackend {
    /// An outbox writing into `dir`, created (with its parents) if missing.
    pub fn new(dir: impl Into<PathBuf>) -> std::io::Result<OutboxBackend> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)?;
        let transport = AsyncFileTransport::new(&dir);
        Ok(OutboxBackend { dir, transport })
    }

    /// The folder messages are written into.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[async_trait::async_trait]
impl EmailBackend for OutboxBackend {
    async fn send(&self, email: &Email, _deadline: Instant) -> Result<(), EmailBackendError> {
        let message = build(email)?;
        match self.transport.send(message).await {
            Ok(_id) => Ok(()),
            Err(e) => {
                // The folder is the host's business: logged, not told to the guest.
                let dir = self.dir.display();
                tracing::warn!(%dir, error = %e, "cannot write into the outbox");
                let why = format!("cannot write into the outbox: {e}");
                Err(EmailBackendError::Transient(why))
            }
        }
    }
}
