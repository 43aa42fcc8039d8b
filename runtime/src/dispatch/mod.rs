//! Routing events to listeners: which listeners an event is for, in which order, and what
//! the caller is told.
//!
//! Sync listeners run inside the caller's request, on events before commit (and on events
//! whose phase is unknown, such as a kinto-redis payload, which kinto-redis itself emits
//! from inside the request): the operator's in configuration order, then the tenants'
//! (`tenants.rs`) by tenant id, then listener name. The run stops at the first permanent
//! failure, as Kinto stops at the first listener that raises: the write is refused, and the
//! listeners after it, of any tenant, do not run (a tenant granted sync listeners may veto
//! writes in its scope: that is what the grant means). A transient failure (a tenant at its
//! calls in flight, a listener unavailable) makes the verdict transient and the others
//! still run. Events after commit are for async listeners only: an event is only ever
//! routed to listeners of its mode.

mod tenants;

pub(crate) use tenants::{Loader, OperatorRules, TenantRoute, TenantRoutes};

use crate::config::Mode;
use crate::engine::{CallReport, Listener, Outcome};
use crate::event::{Action, Delivery, Incoming, Phase, Source};
use crate::invocations::Recorder;
use crate::metrics::Metrics;
use serde::Serialize;
use std::sync::Arc;

/// A listener and the events it wants.
#[derive(Debug, Clone)]
pub(crate) struct Route {
    /// The listener.
    pub listener: Listener,
    /// Actions it receives.
    pub actions: Vec<Action>,
    /// Resource names it receives; `None`: all.
    pub resources: Option<Vec<String>>,
}

impl Route {
    /// Whether an event with this action and resource is for this listener.
    pub(crate) fn wants(&self, action: Action, resource_name: &str) -> bool {
        let resource_ok = self
            .resources
            .as_ref()
            .is_none_or(|r| r.iter().any(|x| x == resource_name));
        self.actions.contains(&action) && resource_ok
    }
}

/// What the caller of a sync run is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Verdict {
    /// Every listener that ran ended `ok` (or none was for this event).
    Ok,
    /// A listener failed in a way that may pass on retry (transient error, deadline,
    /// capacity); the others still ran.
    TransientFailure,
    /// A listener failed permanently; the listeners after it did not run.
    PermanentFailure,
}

/// One listener's part in a run.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ListenerRun {
    /// The listener's name (`tenant/name` for a tenant's).
    pub name: String,
    /// The version that ran, for a tenant's listener.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    /// How its last call ended (the first part that failed, or the last part).
    pub outcome: Outcome,
    /// Calls made (one per part).
    pub calls: usize,
    /// Fuel burned over all calls.
    pub fuel_consumed: u64,
    /// Time spent over all calls, in microseconds.
    pub duration_us: u64,
    /// Emails the backend accepted.
    pub emails: usize,
    /// Queue pushes the backend accepted.
    pub queue_pushes: usize,
}

/// The outcome of one event's sync run.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct EventRun {
    /// The event's id.
    pub event_id: String,
    /// Before or after commit.
    pub phase: Phase,
    /// What the caller should do.
    pub verdict: Verdict,
    /// The listeners that ran, in order.
    pub listeners: Vec<ListenerRun>,
}

/// The configured listeners, split by mode, in configuration order.
#[derive(Debug, Clone)]
pub(crate) struct Dispatcher {
    sync: Vec<Route>,
    tenants: Option<TenantRoutes>,
    metrics: Arc<Metrics>,
    recorder: Recorder,
}

impl Dispatcher {
    /// A dispatcher over the operator's sync listeners, in order, and the tenants' (when
    /// tenants are served), counting their calls in `metrics` and recording them with
    /// `recorder`.
    pub(crate) fn new(
        sync: Vec<Route>,
        tenants: Option<TenantRoutes>,
        metrics: Arc<Metrics>,
        recorder: Recorder,
    ) -> Dispatcher {
        Dispatcher {
            sync,
            tenants,
            metrics,
            recorder,
        }
    }

    /// Runs the sync listeners an event is for.
    pub(crate) async fn run_sync(&self, incoming: &Incoming, source: Source) -> EventRun {
        let event = &incoming.event;
        let delivery = incoming.first_delivery(source);
        let mut run = EventRun {
            event_id: delivery.event_id.clone(),
            phase: incoming.phase,
            verdict: Verdict::Ok,
            listeners: Vec::new(),
        };
        if incoming.phase == Phase::AfterCommit {
            return run;
        }
        let routes = self.sync.iter();
        for route in routes.filter(|r| r.wants(event.action, &event.resource_name)) {
            let reports = route.listener.deliver(event, &delivery).await;
            let name = route.listener.name();
            if self.settle(&mut run, name, &delivery, &reports) == Verdict::PermanentFailure {
                return run;
            }
        }
        let Some(tenants) = &self.tenants else {
            return run;
        };
        let routes = match tenants.for_event(event, Mode::Sync).await {
            Ok(routes) => routes,
            Err(e) => {
                // Whether a tenant's listener would veto the write is unknown: retry.
                tracing::error!(event_id = %delivery.event_id, error = %e, "cannot read the tenants' listeners");
                run.verdict = Verdict::TransientFailure;
                return run;
            }
        };
        for route in routes.iter().filter(|r| !r.paused) {
            let reports = tenants.deliver_from(route, event, &delivery, 1).await;
            let name = &route.name;
            if self.settle(&mut run, name, &delivery, &reports) == Verdict::PermanentFailure {
                break;
            }
        }
        run
    }

    /// Counts, records and adds one listener's reports to `run`; what the listener's part
    /// makes of the verdict.
    fn settle(
        &self,
        run: &mut EventRun,
        name: &str,
        delivery: &Delivery,
        reports: &[CallReport],
    ) -> Verdict {
        record_calls(&self.metrics, Mode::Sync, reports);
        self.recorder.record(Mode::Sync, delivery, reports);
        let listener_run = summarise(name, reports, delivery);
        let outcome = listener_run.outcome.clone();
        run.listeners.push(listener_run);
        if outcome.is_ok() {
            return Verdict::Ok;
        }
        if !outcome.is_retryable() {
            run.verdict = Verdict::PermanentFailure;
            return Verdict::PermanentFailure;
        }
        run.verdict = Verdict::TransientFailure;
        Verdict::TransientFailure
    }
}

/// Counts each call of a delivery in `metrics`.
pub(crate) fn record_calls(metrics: &Metrics, mode: Mode, reports: &[CallReport]) {
    for r in reports {
        let outcome = r.outcome.kind();
        metrics.call(&r.listener, mode, outcome, r.fuel_consumed, r.duration);
    }
}

fn summarise(name: &str, reports: &[CallReport], delivery: &Delivery) -> ListenerRun {
    let outcome = reports.last().map_or(Outcome::Ok, |r| r.outcome.clone());
    let fuel_consumed = reports.iter().map(|r| r.fuel_consumed).sum();
    let duration = reports
        .iter()
        .map(|r| r.duration)
        .sum::<std::time::Duration>();
    let run = ListenerRun {
        name: name.to_owned(),
        version: reports.last().and_then(|r| r.version),
        outcome,
        calls: reports.len(),
        fuel_consumed,
        duration_us: duration.as_micros().try_into().unwrap_or(u64::MAX),
        emails: reports.iter().map(|r| r.emails.len()).sum(),
        queue_pushes: reports.iter().map(|r| r.queue_pushes.len()).sum(),
    };
    tracing::info!(
        listener = name,
        event_id = %delivery.event_id,
        outcome = %run.outcome,
        fuel = run.fuel_consumed,
        duration_us = run.duration_us,
        "listener ran"
    );
    run
}
