//! OpenLineage over HTTP: `POST /api/v1/lineage` (the path OpenLineage's
//! HTTP transport and Marquez use) and `GET /api/v1/events/lineage` (the
//! events as received, by time window, as Marquez answers it).
//!
//! A POST is checked whole (it must translate: [`translate_message`]), then
//! published into the OpenLineage stream and answered 201 only after
//! JetStream acknowledged it: from then on it is durable, and the
//! translator ([`crate::openlineage`]) brings it into the log like any
//! event. Nothing is written anywhere else, so the log stays the one way in.
//! The workspace is the job's namespace ([`workspace_for_namespace`]),
//! or the `workspace` query parameter when given.

use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use futures_util::StreamExt;
use lineage_core::id::Workspace;
use lineage_proto::openlineage::{OpenLineageEvent, workspace_for_namespace};
use serde::Deserialize;
use serde_json::Value;

use super::{HttpError, HttpState};
use crate::auth::Role;
use crate::grpc::ApiError;
use crate::openlineage::{ACTOR_HEADER, ensure_stream, subject_workspace, translate_message};

/// How long a POST waits for JetStream's acknowledgement.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(5);
/// Events an events read answers when it does not say.
const DEFAULT_EVENTS_LIMIT: usize = 100;
/// The most events one read answers.
const MAX_EVENTS_LIMIT: usize = 1_000;
/// The most stored events one read looks at: a read of a wider window says
/// so (`truncated`) and must be narrowed.
const MAX_EVENTS_SCANNED: usize = 50_000;
/// Events fetched from the stream at once while scanning.
const SCAN_BATCH: usize = 1_000;
/// How long a scan may take in all.
const SCAN_TIMEOUT: Duration = Duration::from_secs(5);
/// A scan starts this much before `after`, by receipt time: an event's
/// time is its producer's clock, which may run ahead of the broker's.
const CLOCK_SKEW: Duration = Duration::from_secs(300);

#[derive(Debug, Default, Deserialize)]
pub(super) struct PostParams {
    /// Overrides the workspace the job's namespace names.
    workspace: Option<String>,
}

/// `POST /api/v1/lineage`: one OpenLineage event (RunEvent, DatasetEvent
/// or JobEvent); 201 with `{"workspace", "id", "events", "duplicate"}`
/// once it is durable.
pub(super) async fn post_lineage(
    State(state): State<HttpState>,
    headers: HeaderMap,
    Query(params): Query<PostParams>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), HttpError> {
    let caller = state.caller(&headers)?;
    let event = OpenLineageEvent::parse(&body)
        .map_err(|error| ApiError::invalid("body", format!("OpenLineage: {error}")))?;
    let workspace = match params.workspace {
        Some(workspace) => workspace,
        None => workspace_for_namespace(&event.namespace)
            .map_err(|error| ApiError::invalid("body", format!("OpenLineage: {error}")))?,
    };
    let ws = Workspace::parse(&workspace)
        .map_err(|error| ApiError::invalid("workspace", error.to_string()))?;
    caller.may(Role::Producer, [&ws])?;
    let config = &state.config;
    let subject = format!("{}.{workspace}", config.openlineage_subject_prefix);
    // The actor is who the access file says the caller is; without one,
    // nobody is known.
    let actor = if state.access.is_open() {
        ""
    } else {
        caller.name.as_str()
    };
    let translation = translate_message(config, &subject, actor, &body)
        .map_err(|rejection| ApiError::invalid("body", rejection.detail))?;

    let jetstream = jetstream::new(state.nats()?.clone());
    let mut nats_headers = async_nats::HeaderMap::new();
    // JetStream drops a retry within its window; after it, the
    // translation's ids do.
    nats_headers.insert("Nats-Msg-Id", translation.id.as_str());
    nats_headers.insert("Content-Type", "application/json");
    if !actor.is_empty() {
        nats_headers.insert(ACTOR_HEADER, actor);
    }
    let published = publish(&jetstream, &subject, nats_headers.clone(), body.clone()).await;
    let ack = match published {
        Ok(ack) => ack,
        // Most likely no stream yet (a fresh broker, the translator not yet
        // started): make sure of it and try once more.
        Err(_) => {
            ensure_stream(&jetstream, config)
                .await
                .map_err(ApiError::NotReady)?;
            publish(&jetstream, &subject, nats_headers, body)
                .await
                .map_err(ApiError::NotReady)?
        }
    };
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({
            "workspace": translation.workspace,
            "id": translation.id,
            "events": translation.events.len(),
            "duplicate": ack.duplicate,
        })),
    ))
}

async fn publish(
    jetstream: &jetstream::Context,
    subject: &str,
    headers: async_nats::HeaderMap,
    body: Bytes,
) -> Result<jetstream::publish::PublishAck, String> {
    let ack = jetstream
        .publish_with_headers(subject.to_owned(), headers, body)
        .await
        .map_err(|error| format!("publishing to NATS: {error}"))?;
    tokio::time::timeout(PUBLISH_TIMEOUT, ack)
        .await
        .map_err(|_| "NATS did not acknowledge the event in time".to_owned())?
        .map_err(|error| format!("publishing to NATS: {error}"))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct EventsParams {
    /// Events whose `eventTime` is at or after this (RFC 3339).
    after: Option<String>,
    /// Events whose `eventTime` is at or before this (RFC 3339).
    before: Option<String>,
    limit: Option<usize>,
    offset: Option<usize>,
    /// `desc` (newest first, the default) or `asc`.
    sort_direction: Option<String>,
    /// Only this workspace's events.
    workspace: Option<String>,
}

/// `GET /api/v1/events/lineage`: `{"events": [...], "totalCount": N}`, the
/// OpenLineage events as received whose `eventTime` is in the window,
/// sorted by it, of the workspaces the caller may read.
pub(super) async fn lineage_events(
    State(state): State<HttpState>,
    headers: HeaderMap,
    Query(params): Query<EventsParams>,
) -> Result<Json<Value>, HttpError> {
    let caller = state.caller(&headers)?;
    let after = params
        .after
        .as_deref()
        .map(|t| parse_time("after", t))
        .transpose()?;
    let before = params
        .before
        .as_deref()
        .map(|t| parse_time("before", t))
        .transpose()?;
    let limit = params.limit.unwrap_or(DEFAULT_EVENTS_LIMIT);
    if limit == 0 || limit > MAX_EVENTS_LIMIT {
        return Err(ApiError::invalid("limit", format!("must be 1 to {MAX_EVENTS_LIMIT}")).into());
    }
    let offset = params.offset.unwrap_or(0);
    let descending = match params.sort_direction.as_deref() {
        None | Some("desc") => true,
        Some("asc") => false,
        Some(other) => {
            return Err(ApiError::invalid(
                "sortDirection",
                format!("{other:?} is neither asc nor desc"),
            )
            .into());
        }
    };
    let only = match &params.workspace {
        Some(workspace) => {
            let ws = Workspace::parse(workspace)
                .map_err(|error| ApiError::invalid("workspace", error.to_string()))?;
            caller.may(Role::Reader, [&ws])?;
            Some(ws)
        }
        None => {
            caller.may(Role::Reader, std::iter::empty())?;
            None
        }
    };
    let config = &state.config;
    let jetstream = jetstream::new(state.nats()?.clone());
    let stream = ensure_stream(&jetstream, config)
        .await
        .map_err(ApiError::NotReady)?;
    let deliver_policy = match after {
        Some(after) => {
            let start = after - CLOCK_SKEW.as_nanos() as i128;
            let start_time = time::OffsetDateTime::from_unix_timestamp_nanos(start.max(0))
                .map_err(|error| ApiError::invalid("after", error.to_string()))?;
            jetstream::consumer::DeliverPolicy::ByStartTime { start_time }
        }
        None => jetstream::consumer::DeliverPolicy::All,
    };
    let filter_subject = match &only {
        Some(ws) => format!("{}.{ws}", config.openlineage_subject_prefix),
        None => format!("{}.>", config.openlineage_subject_prefix),
    };
    // An ephemeral consumer that reads without acknowledgements; the
    // server removes it soon after the scan, if the delete below is lost.
    let consumer = stream
        .create_consumer(pull::Config {
            deliver_policy,
            ack_policy: jetstream::consumer::AckPolicy::None,
            filter_subject,
            inactive_threshold: Duration::from_secs(30),
            ..Default::default()
        })
        .await
        .map_err(|error| ApiError::NotReady(format!("reading the OpenLineage stream: {error}")))?;
    let consumer_name = consumer.cached_info().name.clone();
    let scanned = tokio::time::timeout(
        SCAN_TIMEOUT,
        scan(
            &consumer,
            |subject| match subject_workspace(config, subject) {
                Some(workspace) => Workspace::parse(workspace)
                    .map(|ws| caller.sees(&ws))
                    .unwrap_or(false),
                None => false,
            },
            after,
            before,
        ),
    )
    .await;
    let _ = stream.delete_consumer(&consumer_name).await;
    let (mut matched, truncated) = match scanned {
        Ok(scanned) => scanned.map_err(ApiError::NotReady)?,
        Err(_) => {
            return Err(ApiError::NotYet(format!(
                "reading the events took over {} s: narrow the window (after, before)",
                SCAN_TIMEOUT.as_secs()
            ))
            .into());
        }
    };
    matched.sort_by_key(|(at, _)| *at);
    if descending {
        matched.reverse();
    }
    let total = matched.len();
    let events: Vec<Value> = matched
        .into_iter()
        .skip(offset)
        .take(limit)
        .map(|(_, event)| event)
        .collect();
    let mut answer = serde_json::json!({ "events": events, "totalCount": total });
    if truncated {
        answer["truncated"] = Value::Bool(true);
    }
    Ok(Json(answer))
}

/// The stored events the caller `sees` whose time is in the window, with
/// their times (ns); and whether the scan stopped at its bound.
async fn scan(
    consumer: &jetstream::consumer::Consumer<pull::Config>,
    sees: impl Fn(&str) -> bool,
    after: Option<i128>,
    before: Option<i128>,
) -> Result<(Vec<(i128, Value)>, bool), String> {
    let mut matched = Vec::new();
    let mut scanned = 0usize;
    loop {
        let mut batch = consumer
            .batch()
            .max_messages(SCAN_BATCH)
            .expires(Duration::from_millis(500))
            .messages()
            .await
            .map_err(|error| format!("reading the OpenLineage stream: {error}"))?;
        let mut got = 0usize;
        let mut pending = 0u64;
        while let Some(message) = batch.next().await {
            let message =
                message.map_err(|error| format!("reading the OpenLineage stream: {error}"))?;
            got += 1;
            scanned += 1;
            pending = message.info().map(|info| info.pending).unwrap_or(0);
            if !sees(message.subject.as_str()) {
                continue;
            }
            // What was stored passed translation when posted over HTTP; one
            // published straight to NATS may not be an event at all.
            let Ok(event) = OpenLineageEvent::parse(&message.payload) else {
                continue;
            };
            let at = nanos(&event.event_time);
            if after.is_some_and(|after| at < after) || before.is_some_and(|before| at > before) {
                continue;
            }
            matched.push((at, event.json().clone()));
        }
        if got == 0 || pending == 0 {
            return Ok((matched, false));
        }
        if scanned >= MAX_EVENTS_SCANNED {
            return Ok((matched, true));
        }
    }
}

/// An RFC 3339 time as nanoseconds since the epoch.
fn parse_time(field: &str, text: &str) -> Result<i128, ApiError> {
    let timestamp = lineage_proto::openlineage::parse_time(text)
        .map_err(|error| ApiError::invalid(field, error))?;
    Ok(nanos(&timestamp))
}

fn nanos(timestamp: &pbjson_types::Timestamp) -> i128 {
    i128::from(timestamp.seconds) * 1_000_000_000 + i128::from(timestamp.nanos)
}
