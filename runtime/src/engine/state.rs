//! The data of one call's store, and the linker that reaches it: WASI granting nothing,
//! the memory limiter, and the four capabilities of `host`.

use super::limiter::MemoryLimiter;
use crate::host::email::EmailCtx;
use crate::host::log::{CapturedLog, LogStream};
use crate::host::queue::QueueCtx;
use crate::host::settings::SettingsCtx;
use std::time::Instant;
use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

/// The data of one call's store: the WASI context (deny-by-default), the memory limiter
/// and the capabilities.
pub(crate) struct HostState {
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) limiter: MemoryLimiter,
    pub(crate) log: CapturedLog,
    pub(crate) email: EmailCtx,
    pub(crate) queue: QueueCtx,
    pub(crate) settings: SettingsCtx,
    /// When the current call must end: checked at every epoch tick
    /// (`deadline::on_tick`).
    pub(crate) deadline: Instant,
}

impl HostState {
    /// Starts the next call on a reused instance: a new deadline, an empty log and empty
    /// records of emails and pushes, a new peak. WASI, the resource table and the memory the
    /// instance holds stay: they are the instance's.
    pub(crate) fn next_call(&mut self, deadline: Instant) {
        self.deadline = deadline;
        self.log.next_call();
        self.email.next_call(deadline);
        self.queue.next_call(deadline);
        self.limiter.next_call();
    }
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
    e::add_to_linker::<_, HasSelf<EmailCtx>>(linker, |h| &mut h.email)?;
    q::add_to_linker::<_, HasSelf<QueueCtx>>(linker, |h| &mut h.queue)?;
    l::add_to_linker::<_, HasSelf<CapturedLog>>(linker, |h| &mut h.log)?;
    s::add_to_linker::<_, HasSelf<SettingsCtx>>(linker, |h| &mut h.settings)?;
    Ok(())
}

/// WASI that grants nothing: no preopened directory, no environment variable, no argument,
/// stdin closed, no TCP, no UDP, no name lookup and every socket address refused; stdout and
/// stderr go into the call's log. A `wasi:random` call may ask for at most
/// `max_random_bytes` (wasmtime traps past it; `outcome.rs` names the limit).
pub(crate) fn deny_all_wasi(log: &CapturedLog, max_random_bytes: u64) -> WasiCtx {
    WasiCtxBuilder::new()
        .max_random_size(max_random_bytes)
        .stdout(log.stdio(LogStream::Stdout))
        .stderr(log.stdio(LogStream::Stderr))
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .socket_addr_check(|_, _| Box::pin(async { false }))
        .build()
}
