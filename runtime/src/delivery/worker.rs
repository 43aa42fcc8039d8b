//! [`Worker`]: takes entries and due retries from the [`DeliveryQueue`], runs each
//! matching listener, and settles the outcomes: `ok`, a retry on the schedule, or a dead
//! letter. [`Worker::step`] does one round; [`Worker::run`] loops over rounds until shut
//! down.

use super::queue::{DeliveryQueue, QueueError, Settlement};
use super::records::{
    source_from_name, DeadLetter, DeadReason, LastAttempt, Pending, RawEntry, Rejected,
    FORMAT_VERSION,
};
use super::schedule::{Clock, RetrySchedule, CAPACITY_PAUSE};
use crate::config::Mode;
use crate::dispatch::{record_calls, Route, TenantRoute, TenantRoutes};
use crate::engine::{CallReport, Outcome};
use crate::event::{self, Delivery, Event, Incoming, Input, Source};
use crate::invocations::Recorder;
use crate::metrics::Metrics;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;

/// The longest pause of an idle lane between two looks at the queue: the latency of the
/// first event after a quiet time.
const IDLE_POLL_MAX: Duration = Duration::from_millis(50);
/// The pause after the queue failed (Redis down), doubling up to [`ERROR_PAUSE_MAX`].
const ERROR_PAUSE: Duration = Duration::from_millis(200);
const ERROR_PAUSE_MAX: Duration = Duration::from_secs(5);

/// An async listener: its route and what the worker needs besides.
#[derive(Debug, Clone)]
pub(crate) struct AsyncRoute {
    /// The listener and the events it wants.
    pub route: Route,
    /// The inputs it takes entries from.
    pub inputs: Vec<Input>,
    /// Its retry schedule.
    pub schedule: RetrySchedule,
}

/// How the worker takes and keeps work.
#[derive(Debug, Clone)]
pub(crate) struct WorkerSettings {
    /// See [`DEFAULT_BATCH`].
    pub(crate) batch: usize,
    /// See [`DEFAULT_LANES`].
    pub(crate) lanes: usize,
    /// How long an entry taken by a worker stays its own before another worker reclaims
    /// it: longer than the longest batch (see [`Worker::min_claim_idle`]).
    pub(crate) claim_idle: Duration,
    /// See [`DEFAULT_MAX_DEAD_LETTERS`].
    pub(crate) max_dead: usize,
    /// See [`DEFAULT_MAX_REJECTED`].
    pub(crate) max_rejected: usize,
    /// Largest input entry read as an event; larger ones are rejected.
    pub(crate) max_entry_bytes: usize,
    /// See [`DEFAULT_SHUTDOWN_GRACE`].
    pub(crate) shutdown_grace: Duration,
    /// Calls in flight at once over all lanes: the engine's instance pool, so that no call
    /// ends `capacity` for want of a slot the worker itself holds.
    pub(crate) max_in_flight: usize,
    /// The retry schedule of the tenants' listeners (`[delivery] retry_schedule`).
    pub(crate) tenant_schedule: RetrySchedule,
}

/// What one step did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct StepReport {
    /// Input entries taken (new or reclaimed).
    pub entries: usize,
    /// Pending deliveries taken because they were due.
    pub retries: usize,
    /// Deliveries that ended `ok`.
    pub ok: usize,
    /// Deliveries scheduled for another attempt (`capacity` included).
    pub scheduled: usize,
    /// Deliveries parked as dead letters.
    pub dead: usize,
    /// Entries parked as rejected.
    pub rejected: usize,
}

impl StepReport {
    /// Whether the step found nothing to do.
    pub fn is_idle(&self) -> bool {
        self.entries == 0 && self.retries == 0
    }
}

/// Runs the async listeners on what the durable queue holds.
#[derive(Debug, Clone)]
pub struct Worker {
    queue: Arc<dyn DeliveryQueue>,
    routes: Arc<[AsyncRoute]>,
    /// The tenants' listeners, when tenants are served: they take the runtime's input.
    tenants: Option<TenantRoutes>,
    inputs: Vec<Input>,
    settings: WorkerSettings,
    clock: Arc<dyn Clock>,
    in_flight: Arc<tokio::sync::Semaphore>,
    metrics: Arc<Metrics>,
    recorder: Recorder,
}

/// One delivery to run: a listener, the event, and where it stands.
struct Job {
    target: Target,
    event: Arc<Event>,
    delivery: Delivery,
    from_part: u32,
    origin: Origin,
}

/// Whose listener a job runs.
enum Target {
    /// The operator's, by its index in the routes.
    Operator(usize),
    /// A tenant's, at the version active when the job was made.
    Tenant(TenantRoute),
}

/// Where a job came from: an input entry (its pending record is written only if the
/// delivery fails), or a pending delivery that was due.
enum Origin {
    Entry(Arc<Entry>),
    Retry(Box<Pending>),
}

/// What a failed first attempt's pending record needs of its entry.
struct Entry {
    input: Input,
    id: String,
    source: Source,
    text: String,
    taken_ms: u64,
}

impl Origin {
    /// The delivery's key (for logs).
    fn id(&self) -> String {
        match self {
            Origin::Entry(e) => Pending::id_for(e.input, &e.id),
            Origin::Retry(p) => p.id.clone(),
        }
    }

    /// The pending record to update: the retry's own, or a first one for the entry.
    fn into_pending(self, listener: &str) -> Pending {
        match self {
            Origin::Retry(p) => *p,
            Origin::Entry(e) => Pending {
                v: FORMAT_VERSION,
                id: Pending::id_for(e.input, &e.id),
                listener: listener.to_owned(),
                input: e.input,
                source: super::records::source_name(e.source).to_owned(),
                event: e.text.clone(),
                attempt: 1,
                round_start: 1,
                from_part: 1,
                first_ms: e.taken_ms,
                due_ms: e.taken_ms,
                last: None,
            },
        }
    }
}

impl Worker {
    pub(crate) fn new(
        queue: Arc<dyn DeliveryQueue>,
        routes: Vec<AsyncRoute>,
        settings: WorkerSettings,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
        recorder: Recorder,
    ) -> Worker {
        let mut inputs = Vec::new();
        for input in routes.iter().flat_map(|r| r.inputs.iter().copied()) {
            if !inputs.contains(&input) {
                inputs.push(input);
            }
        }
        Worker {
            queue,
            routes: routes.into(),
            tenants: None,
            inputs,
            in_flight: Arc::new(tokio::sync::Semaphore::new(settings.max_in_flight.max(1))),
            settings,
            clock,
            metrics,
            recorder,
        }
    }

    /// The worker, running the tenants' listeners too (on the runtime's input).
    pub(crate) fn with_tenants(mut self, tenants: TenantRoutes) -> Worker {
        if !self.inputs.contains(&Input::Runtime) {
            self.inputs.push(Input::Runtime);
        }
        self.tenants = Some(tenants);
        self
    }

    /// The shortest safe claim idle time: a step's entries are acknowledged once all its
    /// deliveries ended. One delivery is every part of the largest entry, each call up to
    /// its deadline and backstop ([`crate::Listener::longest_call`]); a step's deliveries
    /// (per input a batch of new entries and one of reclaimed ones, a batch of retries,
    /// times the listeners) wait their turn for the calls in flight that all lanes share;
    /// plus a second for Redis.
    pub fn min_claim_idle(&self) -> Duration {
        let s = &self.settings;
        // The tenants' listeners count as one: their number changes as the worker runs
        // (a step with many of them needs `claim_idle_ms` set: "Tenants 3 of 3").
        let listeners = self.routes.len() + usize::from(self.tenants.is_some());
        let per_step = s.batch * (2 * self.inputs.len() + 1) * listeners;
        let rounds = (s.lanes.max(1) * per_step)
            .div_ceil(s.max_in_flight.max(1))
            .max(1);
        let rounds = u32::try_from(rounds).unwrap_or(u32::MAX);
        self.longest_delivery().saturating_mul(rounds) + Duration::from_secs(1)
    }

    /// The longest one delivery can take: the most parts of an entry within
    /// `max_entry_bytes`, each call as long as it may be.
    fn longest_delivery(&self) -> Duration {
        let longest = |r: &AsyncRoute| {
            let per_part = r.route.listener.limits().max_objects_bytes.max(1);
            let parts = self.settings.max_entry_bytes.div_ceil(per_part).max(1);
            let parts = u32::try_from(parts).unwrap_or(u32::MAX);
            r.route.listener.longest_call().saturating_mul(parts)
        };
        let operator = self.routes.iter().map(longest).max().unwrap_or_default();
        let Some(tenants) = &self.tenants else {
            return operator;
        };
        // A tenant's listener at the default limits: one whose tenant has higher ceilings
        // needs `claim_idle_ms` set.
        let limits = crate::limits::Limits::default();
        let parts = self
            .settings
            .max_entry_bytes
            .div_ceil(limits.max_objects_bytes.max(1));
        let parts = u32::try_from(parts.max(1)).unwrap_or(u32::MAX);
        operator.max(tenants.longest_call(&limits).saturating_mul(parts))
    }

    /// The durable queue it works on (to list and replay dead letters).
    pub fn queue(&self) -> &Arc<dyn DeliveryQueue> {
        &self.queue
    }

    /// The claim idle time it runs with.
    pub fn claim_idle(&self) -> Duration {
        self.settings.claim_idle
    }

    /// The inputs some listener takes.
    pub fn inputs(&self) -> &[Input] {
        &self.inputs
    }

    /// One round: takes up to a batch of entries from each input and of due retries per
    /// listener, runs every delivery, and settles the outcomes (records first, then the
    /// acknowledgements). Fails only when the queue does; what was taken then stays
    /// unacknowledged, to be taken again.
    pub async fn step(&self) -> Result<StepReport, QueueError> {
        let batch = self.settings.batch;
        let mut report = StepReport::default();
        let mut settlement = Settlement::default();
        let mut jobs = Vec::new();
        for &input in &self.inputs {
            let entries = self
                .queue
                .take(input, batch, self.settings.claim_idle)
                .await?;
            report.entries += entries.len();
            let via = format!("{input}-input");
            for entry in entries {
                self.metrics.event_received(&via);
                self.fan_out(entry, &mut jobs, &mut settlement, &mut report)
                    .await;
            }
        }
        let now = self.clock.now_ms();
        let lease = self.longest_delivery() + Duration::from_secs(1);
        let mut targets: Vec<(String, Target)> = self
            .routes
            .iter()
            .enumerate()
            .map(|(i, r)| (r.route.listener.name().to_owned(), Target::Operator(i)))
            .collect();
        if let Some(tenants) = &self.tenants {
            // A paused listener's deliveries wait; a deleted one's stay where they are.
            match tenants.asynchronous().await {
                Ok(routes) => targets.extend(
                    routes
                        .into_iter()
                        .filter(|r| !r.paused)
                        .map(|r| (r.name.clone(), Target::Tenant(r))),
                ),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the tenants' listeners: their retries wait")
                }
            }
        }
        for (name, target) in targets {
            let due = self.queue.take_due(&name, now, lease, batch).await?;
            report.retries += due.len();
            for pending in due {
                let target = match &target {
                    Target::Operator(i) => Target::Operator(*i),
                    Target::Tenant(r) => Target::Tenant(r.clone()),
                };
                jobs.extend(self.retry_job(target, pending, &mut settlement));
            }
        }
        self.run_jobs(jobs, &mut settlement, &mut report).await;
        report.rejected = settlement.rejected.len();
        if !settlement.is_empty() {
            let s = &self.settings;
            self.queue
                .settle(settlement, s.max_dead, s.max_rejected)
                .await?;
        }
        Ok(report)
    }

    /// An entry's deliveries: one job per matching listener (a paused tenant's listener
    /// gets a pending delivery that waits for it to resume); a bad entry is rejected. The
    /// entry is acknowledged with the step's settlement either way, unless the tenants'
    /// listeners cannot be read: then it stays unacknowledged, to be taken again.
    async fn fan_out(
        &self,
        entry: RawEntry,
        jobs: &mut Vec<Job>,
        settlement: &mut Settlement,
        report: &mut StepReport,
    ) {
        let now = self.clock.now_ms();
        let incoming = match self.read(&entry) {
            Ok(incoming) => incoming,
            Err(reason) => {
                settlement.ack.push((entry.input, entry.id.clone()));
                tracing::warn!(input = %entry.input, entry = %entry.id, %reason, "input entry rejected");
                self.metrics.rejected(entry.input.as_str());
                settlement.rejected.push(Rejected::new(&entry, reason, now));
                return;
            }
        };
        let mut tenant_routes = Vec::new();
        if let (Some(tenants), Input::Runtime) = (&self.tenants, entry.input) {
            match tenants.for_event(&incoming.event, Mode::Async).await {
                Ok(routes) => tenant_routes = routes,
                Err(e) => {
                    tracing::warn!(entry = %entry.id, error = %e, "cannot read the tenants' listeners: the entry is left to be taken again");
                    return;
                }
            }
        }
        settlement.ack.push((entry.input, entry.id.clone()));
        let event = Arc::new(incoming.event);
        let event_id = event.id();
        let origin = Arc::new(Entry {
            input: entry.input,
            id: entry.id,
            source: entry.source,
            text: String::from_utf8_lossy(&entry.event).into_owned(),
            taken_ms: now,
        });
        let operator = self.routes.iter().enumerate().filter(|(_, r)| {
            r.inputs.contains(&origin.input) && r.route.wants(event.action, &event.resource_name)
        });
        let operator = operator.map(|(index, _)| Target::Operator(index));
        for target in operator.chain(tenant_routes.into_iter().map(Target::Tenant)) {
            if let Target::Tenant(route) = &target {
                if route.paused {
                    let mut pending = Origin::Entry(origin.clone()).into_pending(&route.name);
                    pending.due_ms = now;
                    report.scheduled += 1;
                    settlement.retry.push(pending);
                    continue;
                }
            }
            let delivery = Delivery {
                event_id: event_id.clone(),
                attempt: 1,
                phase: incoming.phase,
                source: origin.source,
            };
            jobs.push(Job {
                target,
                event: event.clone(),
                delivery,
                from_part: 1,
                origin: Origin::Entry(origin.clone()),
            });
        }
    }

    /// The entry as an event, or why it is not one.
    fn read(&self, entry: &RawEntry) -> Result<Incoming, String> {
        if let Some(problem) = &entry.problem {
            return Err(problem.clone());
        }
        let limit = self.settings.max_entry_bytes;
        if entry.event.len() > limit {
            return Err(format!("the entry is {} bytes, over the limit of {limit} bytes ([delivery] max_entry_bytes)", entry.event.len()));
        }
        event::parse_event(&entry.event).map_err(|e| e.to_string())
    }

    /// A due pending delivery as a job. One that no longer reads as an event (written by
    /// another version?) is parked as a dead letter rather than retried for ever.
    fn retry_job(
        &self,
        target: Target,
        pending: Pending,
        settlement: &mut Settlement,
    ) -> Option<Job> {
        let source = source_from_name(&pending.source).unwrap_or(Source::KintoRedis);
        match event::parse_event(pending.event.as_bytes()) {
            Ok(incoming) => {
                let delivery = Delivery {
                    event_id: incoming.event.id(),
                    attempt: pending.attempt,
                    phase: incoming.phase,
                    source,
                };
                let from_part = pending.from_part.max(1);
                Some(Job {
                    target,
                    event: Arc::new(incoming.event),
                    delivery,
                    from_part,
                    origin: Origin::Retry(Box::new(pending)),
                })
            }
            Err(e) => {
                let now = self.clock.now_ms();
                let mut pending = pending;
                pending.last = Some(LastAttempt {
                    outcome: "unreadable".into(),
                    detail: e.to_string(),
                    part: 0,
                    at_ms: now,
                    log: Vec::new(),
                });
                settlement.dead.push(DeadLetter {
                    pending,
                    dead_ms: now,
                    reason: DeadReason::Permanent,
                });
                None
            }
        }
    }

    /// Runs the jobs on the runtime's threads (calls are CPU work: one task each), then
    /// turns each outcome into the settlement.
    async fn run_jobs(&self, jobs: Vec<Job>, settlement: &mut Settlement, report: &mut StepReport) {
        let mut running = JoinSet::new();
        for (slot, job) in jobs.iter().enumerate() {
            let run = match &job.target {
                Target::Operator(i) => {
                    Run::Operator(Box::new(self.routes[*i].route.listener.clone()))
                }
                Target::Tenant(route) => match &self.tenants {
                    Some(tenants) => Run::Tenant(tenants.clone(), route.clone()),
                    None => continue,
                },
            };
            let (event, delivery, from) = (job.event.clone(), job.delivery.clone(), job.from_part);
            let in_flight = self.in_flight.clone();
            running.spawn(async move {
                // Never closed: the worker owns the semaphore.
                let _permit = in_flight.acquire_owned().await;
                let reports = match run {
                    Run::Operator(listener) => listener.deliver_from(&event, &delivery, from).await,
                    Run::Tenant(tenants, route) => {
                        tenants.deliver_from(&route, &event, &delivery, from).await
                    }
                };
                (slot, reports)
            });
        }
        let mut results: Vec<Option<Vec<CallReport>>> = vec![None; jobs.len()];
        while let Some(done) = running.join_next().await {
            match done {
                Ok((slot, reports)) => results[slot] = Some(reports),
                Err(e) => tracing::error!(error = %e, "a delivery task failed"),
            }
        }
        for (job, reports) in jobs.into_iter().zip(results) {
            // A task that panicked: treated as a trap of its first part.
            let reports = reports.unwrap_or_default();
            record_calls(&self.metrics, Mode::Async, &reports);
            self.recorder.record(Mode::Async, &job.delivery, &reports);
            self.settle_job(job, &reports, settlement, report);
        }
    }

    fn settle_job(
        &self,
        job: Job,
        reports: &[CallReport],
        settlement: &mut Settlement,
        report: &mut StepReport,
    ) {
        let (schedule, name) = match &job.target {
            Target::Operator(i) => {
                let route = &self.routes[*i];
                (&route.schedule, route.route.listener.name())
            }
            Target::Tenant(route) => (&self.settings.tenant_schedule, route.name.as_str()),
        };
        let now = self.clock.now_ms();
        let last = reports.last();
        let outcome = last.map_or_else(
            || Outcome::Trap {
                message: "the delivery task failed".into(),
            },
            |r| r.outcome.clone(),
        );
        let part = last.map_or(job.from_part, |r| r.part.index);
        tracing::debug!(listener = name, delivery = %job.origin.id(), attempt = job.delivery.attempt, %outcome, "delivery ran");
        if outcome.is_ok() {
            report.ok += 1;
            self.metrics.delivery(name, "ok");
            if let Origin::Retry(pending) = job.origin {
                settlement.done.push((pending.listener, pending.id));
            }
            return;
        }
        let mut pending = job.origin.into_pending(name);
        let log = last.map(|r| r.log.clone()).unwrap_or_default();
        pending.last = Some(LastAttempt::new(&outcome, part, now, log));
        pending.from_part = part;
        if outcome == Outcome::Capacity {
            pending.due_ms = now + millis(CAPACITY_PAUSE);
            report.scheduled += 1;
            self.metrics.delivery(name, "retry");
            settlement.retry.push(pending);
            return;
        }
        let in_round = pending.attempt.saturating_sub(pending.round_start) + 1;
        let pause = outcome
            .is_retryable()
            .then(|| schedule.pause_after(in_round))
            .flatten();
        match pause {
            Some(pause) => {
                pending.attempt += 1;
                pending.due_ms = now + millis(pause);
                report.scheduled += 1;
                self.metrics.delivery(name, "retry");
                settlement.retry.push(pending);
            }
            None => {
                let reason = if outcome.is_retryable() {
                    DeadReason::Exhausted
                } else {
                    DeadReason::Permanent
                };
                pending.attempt += 1;
                report.dead += 1;
                self.metrics.delivery(name, "dead");
                tracing::warn!(listener = name, delivery = %pending.id, ?reason, %outcome, "delivery parked as a dead letter");
                settlement.dead.push(DeadLetter {
                    pending,
                    dead_ms: now,
                    reason,
                });
            }
        }
    }

    /// Runs [`WorkerSettings::lanes`] loops of steps until `shutdown` resolves; then stops
    /// taking work, lets the steps in flight finish for up to the shutdown grace, and
    /// returns. What a cut step took stays unacknowledged: another worker takes it.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let mut lanes = JoinSet::new();
        for lane in 0..self.settings.lanes.max(1) {
            let (worker, stop) = (self.clone(), stop_rx.clone());
            lanes.spawn(async move { worker.lane(lane, stop).await });
        }
        shutdown.await;
        tracing::info!(grace = ?self.settings.shutdown_grace, "stopping: no new work; waiting for the calls in flight");
        let _ = stop_tx.send(true);
        let drained = tokio::time::timeout(self.settings.shutdown_grace, async {
            while lanes.join_next().await.is_some() {}
        });
        if drained.await.is_err() {
            tracing::warn!("the shutdown grace ran out: the deliveries still running are left to be taken again");
            lanes.abort_all();
        }
        tracing::info!("worker stopped");
    }

    async fn lane(&self, lane: usize, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut idle = Duration::ZERO;
        let mut error_pause = ERROR_PAUSE;
        while !*stop.borrow() {
            let pause = match self.step().await {
                Ok(report) if report.is_idle() => {
                    error_pause = ERROR_PAUSE;
                    idle = (idle * 2).clamp(Duration::from_millis(1), IDLE_POLL_MAX);
                    idle
                }
                Ok(_) => {
                    error_pause = ERROR_PAUSE;
                    idle = Duration::ZERO;
                    continue;
                }
                Err(e) => {
                    tracing::warn!(lane, error = %e, pause = ?error_pause, "the delivery queue failed; trying again");
                    let pause = error_pause;
                    error_pause = (error_pause * 2).min(ERROR_PAUSE_MAX);
                    pause
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = stop.changed() => {}
            }
        }
    }
}

/// What a job's task runs.
enum Run {
    Operator(Box<crate::engine::Listener>),
    Tenant(TenantRoutes, TenantRoute),
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
