//! A listener: a loaded component bound to a name, settings, limits, policies and
//! backends; and the life of one call's store.

use super::deadline::{self, now, LATE_COMMIT_GRACE};
use super::limiter::MemoryLimiter;
use super::outcome::{classify, CallReport, ErrorKind, Outcome};
use super::state::{deny_all_wasi, HostState};
use super::warm::WarmStack;
use super::{convert, CheckError, Engine};
use crate::bindings::types::{self as wit, ListenerError};
use crate::bindings::{Listener as Bindings, ListenerPre};
use crate::event::{Delivery, Event, Part};
use crate::host::email::EmailCtx;
use crate::host::log::CapturedLog;
use crate::host::queue::{QueueBudget, QueueCtx};
use crate::host::settings::SettingsCtx;
use crate::host::{EmailBackend, QueueBackend, RecordOnly};
use crate::limits::Limits;
use crate::policy::{EmailPolicy, EmailRules, QueuePolicy, QueueRules};
use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::component::ResourceTable;
use wasmtime::Store;

/// How long past its deadline a call may run before it is dropped regardless: a backstop
/// for host code that does not go through `host::before_deadline`.
const DEADLINE_BACKSTOP: Duration = Duration::from_millis(250);

/// What a listener is, as configured.
#[derive(Debug, Clone)]
pub struct ListenerSpec {
    /// Its name: in logs, reports and the guest's `context.listener`.
    pub name: String,
    /// Its settings (the `settings` import).
    pub settings: BTreeMap<String, String>,
    /// Its per-call limits.
    pub limits: Limits,
    /// What its email capability may do.
    pub email: EmailPolicy,
    /// What its queue capability may do.
    pub queue: QueuePolicy,
    /// How many of its calls one instance may serve: 1 (the default) gives every call a
    /// fresh instance; more lets an instance that ended a call `ok` serve the next ones
    /// (see `engine/warm.rs` for what carries over and when an instance is dropped).
    pub calls_per_instance: NonZeroU32,
}

impl ListenerSpec {
    /// A listener with default limits, no settings, and policies that permit nothing.
    pub fn new(name: impl Into<String>) -> ListenerSpec {
        ListenerSpec {
            name: name.into(),
            settings: BTreeMap::new(),
            limits: Limits::default(),
            email: EmailPolicy::deny_all(),
            queue: QueuePolicy::deny_all(),
            calls_per_instance: NonZeroU32::MIN,
        }
    }

    /// A listener with default limits and no settings whose policies permit every sender,
    /// recipient and (non-reserved) queue: for backends that only record (`invoke`, tests,
    /// benchmarks), where what the listener would do is the point.
    pub fn permit_all(name: impl Into<String>) -> ListenerSpec {
        ListenerSpec {
            email: EmailPolicy::deny_all().with_layer(EmailRules::allow_all()),
            queue: QueuePolicy::deny_all().with_layer(QueueRules::allow_all()),
            ..ListenerSpec::new(name)
        }
    }
}

/// The backends behind the capabilities, shared by every call.
#[derive(Clone)]
pub struct Capabilities {
    /// Sends email that passed the policy.
    pub email: Arc<dyn EmailBackend>,
    /// Pushes to queues that passed the policy.
    pub queue: Arc<dyn QueueBackend>,
}

impl Capabilities {
    /// Backends that send nothing: effects only show in the call reports.
    pub fn record_only() -> Capabilities {
        Capabilities {
            email: Arc::new(RecordOnly),
            queue: Arc::new(RecordOnly),
        }
    }
}

impl std::fmt::Debug for Capabilities {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Capabilities { .. }")
    }
}

/// A component bound to its configuration, ready to run calls. Cheap to clone.
///
/// By default every call gets a fresh store and instance from the pre-instantiated
/// component (17-19 µs with the pooling allocator), so nothing leaks from one event to the
/// next. A listener with [`ListenerSpec::calls_per_instance`] above 1 reuses an instance
/// across its own calls instead, dropped after any call that does not end `ok`.
#[derive(Clone)]
pub struct Listener {
    engine: Engine,
    pre: ListenerPre<HostState>,
    name: Arc<str>,
    settings: Arc<BTreeMap<String, String>>,
    limits: Limits,
    email_policy: Arc<EmailPolicy>,
    queue_policy: Arc<QueuePolicy>,
    capabilities: Capabilities,
    calls_per_instance: u32,
    /// Idle instances, when `calls_per_instance` > 1.
    warm: Arc<WarmStack>,
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener")
            .field("name", &self.name)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// How long a call with this deadline may run at most, on these backends: see
/// [`Listener::longest_call`].
pub(crate) fn longest_call(deadline: Duration, capabilities: &Capabilities) -> Duration {
    deadline + DEADLINE_BACKSTOP + capabilities.email.overrun() + LATE_COMMIT_GRACE
}

/// The export a call runs.
enum Export {
    Handle(Box<(wit::Event, wit::Context)>),
    ValidateSettings(Vec<(String, String)>),
}

impl Export {
    async fn call(
        self,
        store: &mut Store<HostState>,
        bindings: &Bindings,
    ) -> wasmtime::Result<Result<(), ListenerError>> {
        let handler = bindings.wasm_listeners_listener_handler();
        match self {
            Export::Handle(call) => handler.call_handle(store, &call.0, &call.1).await,
            Export::ValidateSettings(settings) => {
                let verdict = handler.call_validate_settings(store, &settings).await?;
                Ok(verdict.map_err(ListenerError::Permanent))
            }
        }
    }
}

impl Listener {
    pub(super) fn new(
        engine: Engine,
        pre: ListenerPre<HostState>,
        spec: ListenerSpec,
        capabilities: Capabilities,
    ) -> Listener {
        // Only a listener that reuses instances has its stack swept.
        let warm = match spec.calls_per_instance.get() {
            1 => WarmStack::unused(),
            _ => engine.warm_stacks.register(),
        };
        Listener {
            engine,
            pre,
            name: spec.name.into(),
            settings: Arc::new(spec.settings),
            limits: spec.limits,
            email_policy: Arc::new(spec.email),
            queue_policy: Arc::new(spec.queue),
            capabilities,
            calls_per_instance: spec.calls_per_instance.get(),
            warm,
        }
    }

    /// The listener's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Delivers a whole event: one call per part (see [`Limits::max_objects_bytes`]), in
    /// order, stopping at the first part that does not end `ok`.
    pub async fn deliver(&self, event: &Event, delivery: &Delivery) -> Vec<CallReport> {
        self.deliver_from(event, delivery, 1).await
    }

    /// Delivers the parts of an event from part `first` (1-based) on: a retry starts at
    /// the part that failed, the ones before it having ended `ok`.
    pub async fn deliver_from(
        &self,
        event: &Event,
        delivery: &Delivery,
        first: u32,
    ) -> Vec<CallReport> {
        let parts = event.split(self.limits.max_objects_bytes);
        let count = u32::try_from(parts.len()).unwrap_or(u32::MAX);
        let mut reports = Vec::with_capacity(parts.len());
        for (index, part) in (1..).zip(&parts).skip_while(|(i, _)| *i < first) {
            let report = self.call(part, delivery, Part { index, count }).await;
            let failed = !report.outcome.is_ok();
            reports.push(report);
            if failed {
                break;
            }
        }
        reports
    }

    /// Runs `handle` once on `event` (already one part of an event).
    pub async fn call(&self, event: &Event, delivery: &Delivery, part: Part) -> CallReport {
        let event = convert::event(event);
        let context = convert::context(delivery, &self.name, part);
        self.run(part, Export::Handle(Box::new((event, context))))
            .await
    }

    /// Runs `validate-settings` on the listener's settings: `ok`, or a permanent
    /// listener error with the listener's explanation.
    pub async fn validate_settings(&self) -> CallReport {
        let pairs = self.settings.iter();
        let settings = pairs.map(|(k, v)| (k.clone(), v.clone())).collect();
        self.run(Part::WHOLE, Export::ValidateSettings(settings))
            .await
    }

    async fn run(&self, part: Part, export: Export) -> CallReport {
        let started = now();
        let deadline = started + self.limits.deadline;
        let Some(_alive) = self.engine.instance_alive() else {
            return self.capacity(part, now() - started);
        };
        let (mut store, warm, calls) = match self.take_warm(deadline) {
            Some(w) => (w.store, Some(w.bindings), w.calls),
            None => (self.store(deadline), None, 0),
        };
        let work = async {
            limit(&mut store, &self.limits)?;
            let bindings = match warm {
                Some(bindings) => bindings,
                None => self.instantiate(&mut store).await?,
            };
            let verdict = export.call(&mut store, &bindings).await?;
            wasmtime::Result::Ok((verdict, bindings))
        };
        let timed = tokio::time::timeout_at(self.backstop(deadline).into(), work).await;
        let (outcome, bindings) = match timed {
            Err(_elapsed) => (Outcome::Deadline, None),
            Ok(Err(trap)) => (classify(&trap), None),
            Ok(Ok((verdict, bindings))) => (returned(verdict), Some(bindings)),
        };
        let report = self.report(&mut store, part, outcome, now() - started);
        // Only an instance that ended its call `ok` serves another.
        if let (true, Some(bindings)) = (report.outcome.is_ok(), bindings) {
            if calls + 1 < self.calls_per_instance {
                self.warm.keep(&self.engine, store, bindings, calls + 1);
            }
        }
        report
    }

    /// An idle instance of this listener ready for a call by `deadline`, if it reuses them
    /// and one is idle.
    fn take_warm(&self, deadline: Instant) -> Option<super::warm::Warm> {
        if self.calls_per_instance <= 1 {
            return None;
        }
        let mut warm = self.warm.take()?;
        warm.store.data_mut().next_call(deadline);
        // One tick at a time: the deadline is compared with the clock at every tick.
        warm.store.set_epoch_deadline(1);
        Some(warm)
    }

    /// Instantiates once without calling anything: runs the component's start code under
    /// the listener's limits, then type-checks its exports against the contract.
    pub(super) async fn trial(&self) -> Result<(), CheckError> {
        let deadline = now() + self.limits.deadline;
        let Some(_alive) = self.engine.instance_alive() else {
            return Err(CheckError::Instantiation(Outcome::Capacity));
        };
        let mut store = self.store(deadline);
        let instantiate = async {
            limit(&mut store, &self.limits)?;
            self.pre.instance_pre().instantiate_async(&mut store).await
        };
        let timed = tokio::time::timeout_at(self.backstop(deadline).into(), instantiate);
        let instance = match timed.await {
            Err(_elapsed) => return Err(CheckError::Instantiation(Outcome::Deadline)),
            Ok(Err(e)) => return Err(CheckError::Instantiation(classify(&e))),
            Ok(Ok(instance)) => instance,
        };
        match Bindings::new(&mut store, &instance) {
            Ok(_) => Ok(()),
            Err(e) => Err(CheckError::Signature(format!("{e:#}"))),
        }
    }

    /// When a call is dropped whatever it is doing: after the deadline, the time an email
    /// transaction past its point of no return may take, and the late-commit grace.
    /// The longest one call can take: the deadline, then the backstop that ends a call
    /// whose host call does not return, the email backend's overrun and the late-commit
    /// grace. What a lease on a delivery must outlast, per part.
    pub fn longest_call(&self) -> Duration {
        longest_call(self.limits.deadline, &self.capabilities)
    }

    fn backstop(&self, deadline: Instant) -> Instant {
        deadline + (longest_call(Duration::ZERO, &self.capabilities))
    }

    /// Where an instance comes from: today always a fresh one.
    async fn instantiate(&self, store: &mut Store<HostState>) -> wasmtime::Result<Bindings> {
        self.pre.instantiate_async(store).await
    }

    fn store(&self, deadline: Instant) -> Store<HostState> {
        let limits = &self.limits;
        let log = CapturedLog::new(
            self.name.clone(),
            limits.log_capture_bytes,
            limits.log_capture_lines,
        );
        let mut table = ResourceTable::new();
        // The host's side of the handle bound; wasmtime's own tables get it below.
        table.set_max_capacity(limits.max_handles);
        let state = HostState {
            wasi: deny_all_wasi(&log, limits.max_random_bytes),
            table,
            limiter: MemoryLimiter::new(self.limits.memory_bytes),
            email: EmailCtx::new(
                self.email_policy.clone(),
                self.capabilities.email.clone(),
                deadline,
            ),
            queue: QueueCtx::new(
                self.queue_policy.clone(),
                self.capabilities.queue.clone(),
                deadline,
                QueueBudget::of(limits),
            ),
            settings: SettingsCtx::new(self.settings.clone()),
            log,
            deadline,
        };
        let mut store = Store::new(&self.engine.wasmtime, state);
        store.limiter(|s| &mut s.limiter);
        store.set_hostcall_fuel(limits.hostcall_bytes);
        store.set_max_component_handles(limits.max_handles);
        // One tick at a time: the deadline is compared with the clock at every tick.
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|mut store| {
            let state = store.data_mut();
            let late_commit = || state.email.take_late_commit();
            deadline::on_tick(now(), &mut state.deadline, late_commit).into_update()
        });
        store
    }

    /// The report of a call that found `max_instances` calls in flight: nothing ran.
    fn capacity(&self, part: Part, duration: Duration) -> CallReport {
        CallReport {
            duration,
            ..CallReport::not_run(&self.name, part, Outcome::Capacity)
        }
    }

    fn report(
        &self,
        store: &mut Store<HostState>,
        part: Part,
        outcome: Outcome,
        duration: Duration,
    ) -> CallReport {
        let fuel_left = store.get_fuel().unwrap_or(0);
        let state = store.data_mut();
        let (log, log_truncated) = state.log.finish();
        CallReport {
            listener: self.name.to_string(),
            version: None,
            part,
            outcome,
            fuel_consumed: self.limits.fuel.saturating_sub(fuel_left),
            duration,
            peak_memory_bytes: state.limiter.peak(),
            log,
            log_truncated,
            emails: std::mem::take(&mut state.email.sent),
            queue_pushes: std::mem::take(&mut state.queue.pushed),
        }
    }
}

/// What a call that returned ended with.
fn returned(verdict: Result<(), ListenerError>) -> Outcome {
    match verdict {
        Ok(()) => Outcome::Ok,
        Err(ListenerError::Transient(message)) => Outcome::ListenerError {
            error: ErrorKind::Transient,
            message,
        },
        Err(ListenerError::Permanent(message)) => Outcome::ListenerError {
            error: ErrorKind::Permanent,
            message,
        },
    }
}

/// Gives the store its fuel and yield interval. wasmtime refuses a zero interval (which
/// [`Limits::check`] refuses first); its error, if any, ends the call as a trap that says so.
fn limit(store: &mut Store<HostState>, limits: &Limits) -> wasmtime::Result<()> {
    store.set_fuel(limits.fuel)?;
    store.fuel_async_yield_interval(Some(limits.fuel_yield_interval))
}
