//! `POST /v1/events`: a Kinto event (listener shape or bare kinto-redis payload), or a JSON
//! list of them, runs through the sync listeners while the caller waits. A committed event
//! (`AfterResourceChanged`) is for the async listeners: it is put on the durable queue, and
//! the answer says how many deliveries that makes (`enqueued`).
//!
//! Status: 200 when every listener that ran ended `ok`, and 202 when, besides, deliveries
//! were enqueued (the durable queue has them: a crash after the answer loses nothing);
//! [`STATUS_PERMANENT_FAILURE`] (422)
//! when one failed permanently (the Kinto plugin raises, so Kinto fails the request and
//! rolls back, as with a raising Python listener); [`STATUS_TRANSIENT_FAILURE`] (503) when
//! one failed in a way a retry may fix. The body always lists each listener's outcome,
//! fuel and duration.

use super::{ApiError, AppState};
use crate::dispatch::{EventRun, Verdict};
use crate::event::{self, Phase, Source};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use std::sync::Arc;

/// A listener failed permanently: the run stopped there.
pub(super) const STATUS_PERMANENT_FAILURE: StatusCode = StatusCode::UNPROCESSABLE_ENTITY;
/// A listener failed transiently (its error, a deadline, no capacity): retry later.
pub(super) const STATUS_TRANSIENT_FAILURE: StatusCode = StatusCode::SERVICE_UNAVAILABLE;

/// The answer to `POST /v1/events`.
#[derive(Debug, Serialize)]
pub(crate) struct EventsResponse {
    /// The worst verdict over the events.
    verdict: Verdict,
    /// Deliveries to async listeners put on the durable queue, over all events.
    enqueued: usize,
    /// One entry per event, in order; events after a permanent failure do not run.
    events: Vec<EventAnswer>,
}

/// One event's part of the answer.
#[derive(Debug, Serialize)]
pub(crate) struct EventAnswer {
    /// The sync listeners' run.
    #[serde(flatten)]
    run: EventRun,
    /// Deliveries to async listeners enqueued for this event.
    enqueued: usize,
    /// Why the event could not be enqueued (the verdict is then a transient failure:
    /// post it again).
    #[serde(skip_serializing_if = "Option::is_none")]
    enqueue_error: Option<String>,
}

pub(super) async fn post_events(
    State(state): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<EventsResponse>), ApiError> {
    let body = body.map_err(|rejection| match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::TooLarge {
            limit: state.max_body_bytes,
        },
        _ => ApiError::BadRequest(rejection.body_text()),
    })?;
    let events = event::parse_events(&body).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    if events.is_empty() {
        return Err(ApiError::BadRequest(
            "the body is an empty list: post one Kinto event, or a list of them".into(),
        ));
    }
    let mut response = EventsResponse {
        verdict: Verdict::Ok,
        enqueued: 0,
        events: Vec::with_capacity(events.len()),
    };
    for incoming in &events {
        state.metrics.metrics.event_received("http");
        let mut run = state.dispatcher.run_sync(incoming, Source::Http).await;
        let (mut enqueued, mut enqueue_error) = (0, None);
        if let (Phase::AfterCommit, Some(enqueuer)) = (incoming.phase, &state.enqueuer) {
            match enqueuer.enqueue(incoming, Source::Http).await {
                Ok(n) => enqueued = n,
                Err(e) => {
                    tracing::warn!(event_id = %run.event_id, error = %e, "enqueueing an event failed");
                    run.verdict = worst(run.verdict, Verdict::TransientFailure);
                    enqueue_error = Some(e.to_string());
                }
            }
        }
        response.verdict = worst(response.verdict, run.verdict);
        response.enqueued += enqueued;
        response.events.push(EventAnswer {
            run,
            enqueued,
            enqueue_error,
        });
        if response.verdict == Verdict::PermanentFailure {
            break;
        }
    }
    let status = match status(response.verdict) {
        StatusCode::OK if response.enqueued > 0 => StatusCode::ACCEPTED,
        status => status,
    };
    Ok((status, Json(response)))
}

fn worst(a: Verdict, b: Verdict) -> Verdict {
    let rank = |v| match v {
        Verdict::Ok => 0,
        Verdict::TransientFailure => 1,
        Verdict::PermanentFailure => 2,
    };
    if rank(b) > rank(a) {
        b
    } else {
        a
    }
}

fn status(verdict: Verdict) -> StatusCode {
    match verdict {
        Verdict::Ok => StatusCode::OK,
        Verdict::TransientFailure => STATUS_TRANSIENT_FAILURE,
        Verdict::PermanentFailure => STATUS_PERMANENT_FAILURE,
    }
}
