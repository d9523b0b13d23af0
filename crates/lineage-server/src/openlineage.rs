//! OpenLineage in: the translator between the OpenLineage stream and the
//! events stream.
//!
//! OpenLineage events arrive on `<openlineage-subject-prefix>.<workspace>`
//! (`openlineage.events.<ws>`), from producers over NATS or from `POST
//! /api/v1/lineage` ([`crate::http`]), and are kept as received in their
//! own stream. The translator consumes that stream with a durable consumer
//! (shared by every replica, so each event is translated once), turns each
//! event into lineage events ([`lineage_proto::openlineage::translate`]) and
//! publishes them to `<subject-prefix>.<workspace>` like any producer. Only
//! after JetStream has acknowledged every one of them is the OpenLineage
//! event acknowledged: a crash in between redelivers it, and its
//! translation, whose ids derive from its content, is recognised as a
//! duplicate (by JetStream's window, then by the log's idempotency index).
//! So the log stays the one way into the graph, and nothing is translated
//! into it twice. An event that cannot be translated is dead-lettered with
//! the reason, like a native event.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, AckKind, consumer::pull, stream};
use futures_util::StreamExt;
use futures_util::future::try_join_all;
use lineage_proto::openlineage::{OpenLineageError, OpenLineageEvent, translate};
use lineage_proto::validate::{RejectReason, Rejection};
use prost::Message as _;
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::config::Config;
use crate::state::Shared;

/// The header carrying the principal an HTTP caller authenticated as: the
/// translated events' actor.
pub const ACTOR_HEADER: &str = "Lineage-Actor";
/// OpenLineage events fetched at once.
const BATCH: usize = 64;
/// How long one fetch waits for events.
const FETCH_EXPIRES: Duration = Duration::from_secs(1);
/// How long one publish of a translated event may wait for its ack.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(10);
/// The pause before trying again after NATS failed.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// The OpenLineage stream, created if missing (by the translator and by the
/// HTTP API, whichever comes first).
pub async fn ensure_stream(
    jetstream: &jetstream::Context,
    config: &Config,
) -> Result<stream::Stream, String> {
    jetstream
        .get_or_create_stream(stream::Config {
            name: config.openlineage_stream.clone(),
            subjects: vec![format!("{}.>", config.openlineage_subject_prefix)],
            storage: stream::StorageType::File,
            num_replicas: usize::from(config.stream_replicas),
            ..Default::default()
        })
        .await
        .map_err(|error| {
            format!(
                "the OpenLineage stream {}: {error}",
                config.openlineage_stream
            )
        })
}

/// The workspace an OpenLineage subject names, if it is one.
pub fn subject_workspace<'s>(config: &Config, subject: &'s str) -> Option<&'s str> {
    subject
        .strip_prefix(&config.openlineage_subject_prefix)
        .and_then(|rest| rest.strip_prefix('.'))
        .filter(|workspace| lineage_core::id::Workspace::parse(workspace).is_ok())
}

/// Translates one received OpenLineage message (its subject, actor header
/// and bytes) into lineage events, or says why it cannot be.
pub fn translate_message(
    config: &Config,
    subject: &str,
    actor: &str,
    payload: &[u8],
) -> Result<lineage_proto::openlineage::Translation, Rejection> {
    if payload.len() > config.max_event_bytes {
        return Err(Rejection::new(
            RejectReason::Oversize,
            format!(
                "message is {} bytes, the limit is {}",
                payload.len(),
                config.max_event_bytes
            ),
        ));
    }
    let Some(workspace) = subject_workspace(config, subject) else {
        return Err(Rejection::new(
            RejectReason::InvalidIdentifier,
            format!(
                "subject {subject:?} does not name a workspace: expected {}.<workspace>",
                config.openlineage_subject_prefix
            ),
        ));
    };
    let rejection = |error: OpenLineageError| {
        let reason = match error {
            OpenLineageError::Json(_) => RejectReason::Undecodable,
            OpenLineageError::Field { .. } => RejectReason::InvalidValue,
        };
        Rejection::new(reason, format!("OpenLineage: {error}"))
    };
    let event = OpenLineageEvent::parse(payload).map_err(rejection)?;
    translate(&event, workspace, actor).map_err(rejection)
}

/// The translator's loop and what it needs.
#[derive(Clone)]
pub(crate) struct Translator {
    pub config: Arc<Config>,
    pub client: async_nats::Client,
    /// For the metrics.
    pub shared: Arc<Shared>,
}

impl Translator {
    /// Translates until `stop` turns true, retrying after NATS failures.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        loop {
            let consuming = self.consume(stop.clone());
            let consumed = tokio::select! {
                _ = stop.wait_for(|stop| *stop) => return,
                consumed = consuming => consumed,
            };
            match consumed {
                Ok(()) => return,
                Err(error) => {
                    warn!(%error, "OpenLineage translation paused; retrying");
                    tokio::select! {
                        _ = stop.wait_for(|stop| *stop) => return,
                        () = tokio::time::sleep(RETRY_AFTER) => {}
                    }
                }
            }
        }
    }

    async fn consume(&self, stop: watch::Receiver<bool>) -> Result<(), String> {
        let config = &self.config;
        let jetstream = jetstream::new(self.client.clone());
        let stream = ensure_stream(&jetstream, config).await?;
        let consumer: jetstream::consumer::Consumer<pull::Config> = stream
            .get_or_create_consumer(
                &config.openlineage_consumer,
                pull::Config {
                    durable_name: Some(config.openlineage_consumer.clone()),
                    ack_policy: jetstream::consumer::AckPolicy::Explicit,
                    ack_wait: config.ack_wait(),
                    max_ack_pending: (BATCH * 4) as i64,
                    ..Default::default()
                },
            )
            .await
            .map_err(|error| format!("the OpenLineage consumer: {error}"))?;
        info!(
            stream = %config.openlineage_stream,
            consumer = %config.openlineage_consumer,
            "translating OpenLineage events"
        );
        loop {
            if *stop.borrow() {
                return Ok(());
            }
            let mut messages = consumer
                .batch()
                .max_messages(BATCH)
                .expires(FETCH_EXPIRES)
                .messages()
                .await
                .map_err(|error| format!("fetching OpenLineage events: {error}"))?;
            while let Some(message) = messages.next().await {
                let message =
                    message.map_err(|error| format!("fetching OpenLineage events: {error}"))?;
                if let Err(error) = self.handle(&jetstream, &message).await {
                    // Redelivered after the pause; its translation's ids
                    // make a second publication harmless.
                    let _ = message.ack_with(AckKind::Nak(Some(RETRY_AFTER))).await;
                    return Err(error);
                }
            }
        }
    }

    /// Publishes the translation of one message and acknowledges it, or
    /// dead-letters it; an error leaves it unacknowledged.
    async fn handle(
        &self,
        jetstream: &jetstream::Context,
        message: &jetstream::Message,
    ) -> Result<(), String> {
        let actor = message
            .headers
            .as_ref()
            .and_then(|headers| headers.get(ACTOR_HEADER))
            .map(|value| value.as_str().to_owned())
            .unwrap_or_default();
        match translate_message(&self.config, &message.subject, &actor, &message.payload) {
            Ok(translation) => {
                let subject = format!("{}.{}", self.config.subject_prefix, translation.workspace);
                let publications = translation.events.iter().map(|event| {
                    let mut headers = async_nats::HeaderMap::new();
                    headers.insert("Nats-Msg-Id", event.event_id.as_str());
                    let subject = subject.clone();
                    let bytes = event.encode_to_vec();
                    async move {
                        let ack = jetstream
                            .publish_with_headers(subject, headers, bytes.into())
                            .await
                            .map_err(|error| format!("publishing a translated event: {error}"))?;
                        tokio::time::timeout(PUBLISH_TIMEOUT, ack)
                            .await
                            .map_err(|_| {
                                "a translated event's publish was not acknowledged in time"
                                    .to_owned()
                            })?
                            .map_err(|error| format!("publishing a translated event: {error}"))
                    }
                });
                try_join_all(publications).await?;
                self.shared.metrics().openlineage_translated();
                debug!(
                    id = %translation.id,
                    events = translation.events.len(),
                    "OpenLineage event translated"
                );
            }
            Err(rejection) => {
                warn!(
                    subject = %message.subject,
                    reason = rejection.reason.code(),
                    detail = %rejection.detail,
                    "OpenLineage event dead-lettered"
                );
                self.dead_letter(jetstream, message, &rejection).await?;
                self.shared.metrics().openlineage_dead_lettered();
            }
        }
        message
            .ack()
            .await
            .map_err(|error| format!("acknowledging an OpenLineage event: {error}"))
    }

    async fn dead_letter(
        &self,
        jetstream: &jetstream::Context,
        message: &jetstream::Message,
        rejection: &Rejection,
    ) -> Result<(), String> {
        let subject = message.subject.as_str();
        let workspace = subject_workspace(&self.config, subject).unwrap_or("unknown");
        let mut headers =
            crate::ingest::dead_letter_headers(&self.config.openlineage_stream, message, rejection);
        headers.insert("Content-Type", "application/json");
        let ack = jetstream
            .publish_with_headers(
                format!("{}.{workspace}", self.config.dlq_subject_prefix),
                headers,
                message.payload.clone(),
            )
            .await
            .map_err(|error| format!("dead-lettering an OpenLineage event: {error}"))?;
        tokio::time::timeout(PUBLISH_TIMEOUT, ack)
            .await
            .map_err(|_| "a dead letter was not acknowledged in time".to_owned())?
            .map_err(|error| format!("dead-lettering an OpenLineage event: {error}"))?;
        Ok(())
    }
}
