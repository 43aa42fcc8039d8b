//! The host side of the contract: one module per capability, each a context owned by the
//! store's data, the generated `Host` impl and one `add_to_linker`.
//!
//! Every capability checks its policy first and treats every value from the guest as
//! hostile. Guest-visible failures are the WIT error variants; host failures (a deadline
//! passing inside a host call, a broken backend) are traps of the types below, which
//! `engine::outcome` turns into an [`crate::Outcome`].

pub mod email;
pub mod log;
pub mod queue;
pub mod settings;

use crate::engine::limiter::MemoryLimiter;
use std::future::Future;
use std::time::Instant;
use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// The data of one call's store: the WASI context (deny-by-default) and the capabilities.
pub(crate) struct HostState {
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) limiter: MemoryLimiter,
    pub(crate) log: log::CapturedLog,
    pub(crate) email: email::EmailCtx,
    pub(crate) queue: queue::QueueCtx,
    pub(crate) settings: settings::SettingsCtx,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Links WASI (every interface `wasmtime_wasi::p2` has, configured to grant nothing) and the
/// four capabilities of the `listener` world.
pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_async(linker)?;
    use crate::bindings::{email as e, log as l, queue as q, settings as s};
    e::add_to_linker::<_, HasSelf<email::EmailCtx>>(linker, |h| &mut h.email)?;
    q::add_to_linker::<_, HasSelf<queue::QueueCtx>>(linker, |h| &mut h.queue)?;
    l::add_to_linker::<_, HasSelf<log::CapturedLog>>(linker, |h| &mut h.log)?;
    s::add_to_linker::<_, HasSelf<settings::SettingsCtx>>(linker, |h| &mut h.settings)?;
    Ok(())
}

/// Trap: the call's deadline passed while a host call was waiting.
#[derive(Debug, thiserror::Error)]
#[error("the call's deadline passed while `{capability}` was waiting")]
pub struct DeadlineExceeded {
    /// The capability that was waiting (`email`, `queue`).
    pub capability: &'static str,
}

/// Trap: a capability failed in a way the guest cannot act on (a transient host fault).
#[derive(Debug, thiserror::Error)]
#[error("capability `{capability}` is unavailable: {message}")]
pub struct CapabilityUnavailable {
    /// `email` or `queue`.
    pub capability: &'static str,
    /// What failed.
    pub message: String,
}

/// Runs a host call's I/O until `deadline`. Epoch interruption only stops wasm code, so
/// every host call that waits goes through here; past the deadline it traps with
/// [`DeadlineExceeded`].
pub(crate) async fn before_deadline<T>(
    deadline: Instant,
    capability: &'static str,
    io: impl Future<Output = T>,
) -> wasmtime::Result<T> {
    match tokio::time::timeout_at(deadline.into(), io).await {
        Ok(value) => Ok(value),
        Err(_) => Err(wasmtime::Error::new(DeadlineExceeded { capability })),
    }
}
