//! [`Metrics`]: what the runtime counts, rendered as Prometheus text (OpenMetrics) for
//! `GET /metrics` on `serve` and on `worker`. The only module that names
//! `prometheus-client`; callers record with plain names, numbers and the runtime's own
//! types (a call's [`Mode`] and [`OutcomeKind`]).
//!
//! | metric | labels | what |
//! |---|---|---|
//! | `wasm_listeners_events_received_total` | `via` (`http`, `runtime-input`, `kinto-redis-input`) | events posted, input entries taken |
//! | `wasm_listeners_calls_total` | `listener`, `mode`, `outcome` | listener calls (parts), sync and async |
//! | `wasm_listeners_fuel_consumed_total` | `listener` | fuel the calls burnt |
//! | `wasm_listeners_call_duration_seconds` | `listener` | histogram of call durations |
//! | `wasm_listeners_deliveries_total` | `listener`, `result` (`ok`, `retry`, `dead`) | async deliveries settled: done, scheduled again (a retry), parked |
//! | `wasm_listeners_rejected_total` | `input` | input entries rejected (not an event) |
//! | `wasm_listeners_queue_depth` | `input` | entries an input holds, at scrape time |
//! | `wasm_listeners_instances_in_use` | | listener instances alive, at scrape time |
//! | `wasm_listeners_instances_idle` | | instances kept for reuse (`calls_per_instance`), at scrape time |
//! | `wasm_listeners_component_loads_total` | `how` (`compiled`, `artifact`, `artifact-refused`) | components compiled, loaded precompiled, precompiled artifacts refused (then compiled) |

use crate::config::Mode;
use crate::engine::OutcomeKind;
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::fmt::Write as _;
use std::time::Duration;

/// Call-duration buckets: 100 µs, then ×4 up to ~26 s.
const DURATION_BUCKETS: (f64, f64, u16) = (0.000_1, 4.0, 10);

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Via {
    via: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    listener: String,
    mode: Mode,
    outcome: OutcomeKind,
}

/// A mode as a label value: `sync`, `async`.
impl EncodeLabelValue for Mode {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> std::fmt::Result {
        encoder.write_str(match self {
            Mode::Sync => "sync",
            Mode::Async => "async",
        })
    }
}

/// An outcome as a label value: its name (`ok`, `listener-error`, ...).
impl EncodeLabelValue for OutcomeKind {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> std::fmt::Result {
        encoder.write_str(self.name())
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ListenerLabel {
    listener: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeliveryLabels {
    listener: String,
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HowLabel {
    how: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct InputLabel {
    input: String,
}

/// The runtime's metrics. One per process, shared (`Arc`) by the API and the worker.
pub(crate) struct Metrics {
    registry: Registry,
    events: Family<Via, Counter>,
    calls: Family<CallLabels, Counter>,
    fuel: Family<ListenerLabel, Counter>,
    durations: Family<ListenerLabel, Histogram>,
    deliveries: Family<DeliveryLabels, Counter>,
    rejected: Family<InputLabel, Counter>,
    depth: Family<InputLabel, Gauge>,
    instances: Gauge,
    idle: Gauge,
    loads: Family<HowLabel, Counter>,
}

/// What `render` reads at scrape time from the rest of the process.
#[derive(Debug, Default)]
pub(crate) struct Scrape {
    /// Each input's depth.
    pub(crate) depths: Vec<(String, u64)>,
    /// Listener instances alive.
    pub(crate) instances: usize,
    /// Instances kept for reuse.
    pub(crate) idle: usize,
    /// Components compiled, loaded from artifacts, artifacts refused, since start.
    pub(crate) compiled: u64,
    pub(crate) artifacts_loaded: u64,
    pub(crate) artifacts_refused: u64,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics { .. }")
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

impl Metrics {
    pub(crate) fn new() -> Metrics {
        let mut registry = Registry::with_prefix("wasm_listeners");
        let durations = Family::<ListenerLabel, Histogram>::new_with_constructor(|| {
            let (start, factor, count) = DURATION_BUCKETS;
            Histogram::new(exponential_buckets(start, factor, count))
        });
        let metrics = Metrics {
            registry: Registry::default(),
            events: Family::default(),
            calls: Family::default(),
            fuel: Family::default(),
            durations,
            deliveries: Family::default(),
            rejected: Family::default(),
            depth: Family::default(),
            instances: Gauge::default(),
            idle: Gauge::default(),
            loads: Family::default(),
        };
        let m = &metrics;
        registry.register(
            "events_received",
            "Events posted and input entries taken",
            m.events.clone(),
        );
        registry.register(
            "calls",
            "Listener calls (parts), sync and async, by outcome",
            m.calls.clone(),
        );
        registry.register(
            "fuel_consumed",
            "Fuel burnt by listener calls",
            m.fuel.clone(),
        );
        registry.register(
            "call_duration_seconds",
            "Listener call durations",
            m.durations.clone(),
        );
        registry.register(
            "deliveries",
            "Async deliveries settled: ok, retry (scheduled again) or dead",
            m.deliveries.clone(),
        );
        registry.register(
            "rejected",
            "Input entries rejected as not an event",
            m.rejected.clone(),
        );
        registry.register(
            "queue_depth",
            "Entries an input holds, at scrape time",
            m.depth.clone(),
        );
        registry.register(
            "instances_in_use",
            "Listener instances alive, at scrape time",
            m.instances.clone(),
        );
        registry.register(
            "instances_idle",
            "Listener instances kept for reuse between calls, at scrape time",
            m.idle.clone(),
        );
        registry.register(
            "component_loads",
            "Components compiled, loaded from a precompiled artifact, artifacts refused",
            m.loads.clone(),
        );
        Metrics {
            registry,
            ..metrics
        }
    }

    /// An event posted (`http`) or an input entry taken (`runtime-input`, ...).
    pub(crate) fn event_received(&self, via: &str) {
        self.events
            .get_or_create(&Via {
                via: via.to_owned(),
            })
            .inc();
    }

    /// One listener call (a part) ended with `outcome` after burning `fuel`.
    pub(crate) fn call(
        &self,
        listener: &str,
        mode: Mode,
        outcome: OutcomeKind,
        fuel: u64,
        took: Duration,
    ) {
        let labels = CallLabels {
            listener: listener.to_owned(),
            mode,
            outcome,
        };
        self.calls.get_or_create(&labels).inc();
        let listener = ListenerLabel {
            listener: listener.to_owned(),
        };
        self.fuel.get_or_create(&listener).inc_by(fuel);
        self.durations
            .get_or_create(&listener)
            .observe(took.as_secs_f64());
    }

    /// An async delivery settled: `ok`, `retry` or `dead`.
    pub(crate) fn delivery(&self, listener: &str, result: &str) {
        let labels = DeliveryLabels {
            listener: listener.to_owned(),
            result: result.to_owned(),
        };
        self.deliveries.get_or_create(&labels).inc();
    }

    /// An input entry rejected.
    pub(crate) fn rejected(&self, input: &str) {
        let input = InputLabel {
            input: input.to_owned(),
        };
        self.rejected.get_or_create(&input).inc();
    }

    /// The text for `GET /metrics`, with what is read at scrape time.
    pub(crate) fn render(&self, scrape: &Scrape) -> String {
        for (input, depth) in &scrape.depths {
            let input = InputLabel {
                input: input.clone(),
            };
            self.depth
                .get_or_create(&input)
                .set(i64::try_from(*depth).unwrap_or(i64::MAX));
        }
        self.instances
            .set(i64::try_from(scrape.instances).unwrap_or(i64::MAX));
        self.idle
            .set(i64::try_from(scrape.idle).unwrap_or(i64::MAX));
        let loads = [
            ("compiled", scrape.compiled),
            ("artifact", scrape.artifacts_loaded),
            ("artifact-refused", scrape.artifacts_refused),
        ];
        for (how, count) in loads {
            let counter = self.loads.get_or_create(&HowLabel { how });
            // The engine counts; the counter mirrors it.
            counter
                .inner()
                .store(count, std::sync::atomic::Ordering::Relaxed);
        }
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

/// The content type of [`Metrics::render`]'s text.
pub(crate) const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_what_was_recorded() {
        let m = Metrics::new();
        m.event_received("http");
        m.call(
            "notify",
            Mode::Sync,
            OutcomeKind::Ok,
            1234,
            Duration::from_millis(2),
        );
        m.call(
            "notify",
            Mode::Sync,
            OutcomeKind::Ok,
            1000,
            Duration::from_millis(3),
        );
        let limit = OutcomeKind::HostLimit;
        m.call("notify", Mode::Async, limit, 1, Duration::from_millis(1));
        m.delivery("notify", "retry");
        m.rejected("kinto-redis");
        let text = m.render(&Scrape {
            depths: vec![("runtime".into(), 7)],
            instances: 3,
            idle: 4,
            compiled: 2,
            artifacts_loaded: 5,
            artifacts_refused: 1,
        });
        for line in [
            "wasm_listeners_events_received_total{via=\"http\"} 1",
            "wasm_listeners_calls_total{listener=\"notify\",mode=\"sync\",outcome=\"ok\"} 2",
            "wasm_listeners_calls_total{listener=\"notify\",mode=\"async\",outcome=\"host-limit\"} 1",
            "wasm_listeners_fuel_consumed_total{listener=\"notify\"} 2235",
            "wasm_listeners_call_duration_seconds_count{listener=\"notify\"} 3",
            "wasm_listeners_deliveries_total{listener=\"notify\",result=\"retry\"} 1",
            "wasm_listeners_rejected_total{input=\"kinto-redis\"} 1",
            "wasm_listeners_queue_depth{input=\"runtime\"} 7",
            "wasm_listeners_instances_in_use 3",
            "wasm_listeners_instances_idle 4",
            "wasm_listeners_component_loads_total{how=\"compiled\"} 2",
            "wasm_listeners_component_loads_total{how=\"artifact\"} 5",
            "wasm_listeners_component_loads_total{how=\"artifact-refused\"} 1",
        ] {
            assert!(text.lines().any(|l| l == line), "no `{line}` in:\n{text}");
        }
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
