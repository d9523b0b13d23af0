//! The ingest loop: JetStream messages into the durable log, then the graph,
//! then acknowledgements, in that order.
//!
//! Two stages, so that one batch is classified and appended while the one
//! before it waits for the disk:
//! 1. the appender (the consume loop, which owns the [`Log`]) classifies
//!    every message of a batch (decode, validate, check the subject's
//!    workspace) and appends the valid ones in one transaction;
//! 2. the committer (a task fed through a queue of [`COMMIT_QUEUE`] batches)
//!    flushes, applies what was stored to the graph, dead-letters the rejects
//!    (awaiting the dead-letter stream's publish ack) and only then
//!    acknowledges, batch after batch in append order.
//!
//! A `RedactionRequested` is noted as pending when appended; after its
//! batch is committed, the committer erases the fields it names from the
//! log and the stream and deletes older snapshots ([`crate::redact`]).
//!
//! A crash at any point leaves messages unacknowledged, and their redelivery
//! is recognised by the log's idempotency index, so nothing is lost or
//! applied twice. Storage trouble stops acknowledgements (messages are NAKed
//! with a delay) while queries keep being served from the graph: a batch
//! whose append or flush failed is neither applied nor acknowledged, the
//! log is closed at once (sled poisons a store after a failed write) and
//! reopened once the directory takes writes again, and the graph then
//! applies whatever of those batches the reopened log holds
//! ([`Ingest::recover`]). Ingest reports itself as the health service
//! [`INGEST_HEALTH_SERVICE`]: SERVING while it consumes, NOT_SERVING with
//! `GetStatus.ingest_error` saying why while it cannot.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_nats::jetstream::{self, AckKind, consumer::pull, stream};
use futures_util::StreamExt;
use lineage_core::event::Payload;
use lineage_core::redaction::record_field_key;
use lineage_core::{Event, LineageGraph};
use lineage_log::{Appended, Log, LogReader, LogSync, NewRecord};
use lineage_proto::fields::{Digests, digests};
use lineage_proto::validate::{
    Encoding, RejectReason, Rejection, decode_event, validate_event, validate_logged_event,
};
use tokio::sync::{mpsc, watch};
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;
use tracing::{debug, error, info, instrument, warn};

use crate::config::Config;
use crate::metrics::ConsumerLagSampler;
use crate::redact;
use crate::snapshot::SnapshotStore;
use crate::state::Shared;

/// Headers written on every dead-lettered message.
pub mod dlq_headers {
    pub const REASON: &str = "Lineage-Reject-Reason";
    pub const DETAIL: &str = "Lineage-Reject-Detail";
    pub const ORIGINAL_SUBJECT: &str = "Lineage-Original-Subject";
    pub const ORIGINAL_STREAM_SEQ: &str = "Lineage-Original-Stream-Seq";
}

/// The name ingest's health is reported under in the standard gRPC health
/// service: NOT_SERVING while the log or NATS fails, when queries (the
/// `lineage.v1.LineageService`, still SERVING) are answered from a graph
/// that does not move.
pub const INGEST_HEALTH_SERVICE: &str = "lineage.v1.Ingest";

/// Why the loop had to stop consuming for a while.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// NATS or JetStream failed (unreachable, stream errors). Retried with backoff.
    #[error("jetstream: {0}")]
    JetStream(String),
    /// The log could not store or flush. Nothing is acknowledged until it can.
    #[error("storage: {0}")]
    Storage(#[from] lineage_log::LogError),
    /// A redaction could not be carried out; it stays pending and is
    /// retried with the ingest.
    #[error("redaction: {0}")]
    Redaction(String),
    /// The reopened log's records could not be applied to the graph (a
    /// record no longer decodes: the store is damaged). Retried; an
    /// operator must look at the store.
    #[error("catching the graph up with the log: {0}")]
    CatchUp(String),
}

fn jetstream_error(error: impl std::fmt::Display) -> IngestError {
    IngestError::JetStream(error.to_string())
}

/// Everything the loop needs besides the log it owns.
#[derive(Clone)]
pub(crate) struct Ingest {
    pub config: Arc<Config>,
    pub shared: Arc<Shared>,
    pub client: async_nats::Client,
    /// Where ingest says whether it is consuming ([`INGEST_HEALTH_SERVICE`]).
    pub health: HealthReporter,
}

/// Doubles from 100 ms to 5 s; reset after a healthy batch.
struct Backoff(Duration);

impl Backoff {
    const FIRST: Duration = Duration::from_millis(100);
    const MAX: Duration = Duration::from_secs(5);

    fn next(&mut self) -> Duration {
        let delay = self.0;
        self.0 = (self.0 * 2).min(Self::MAX);
        delay
    }

    fn reset(&mut self) {
        self.0 = Self::FIRST;
    }
}

/// Folds the whole log into a fresh graph. Records were validated before they
/// were stored, so a record that no longer decodes means the store was
/// damaged: it is reported, not skipped silently.
pub fn replay(reader: &LogReader) -> Result<LineageGraph, String> {
    let mut graph = LineageGraph::new();
    replay_into(&mut graph, reader, 1)?;
    Ok(graph)
}

/// Applies the records from `from_seq` on to `graph`; returns how many.
pub fn replay_into(
    graph: &mut LineageGraph,
    reader: &LogReader,
    from_seq: u64,
) -> Result<u64, String> {
    let mut replayed = 0;
    let erased = redact::erased_seqs(reader, from_seq, u64::MAX).map_err(|e| e.to_string())?;
    reader
        .for_each_from(from_seq, |record| {
            let wire = redact::decode_stored(
                record.seq,
                record.encoding,
                record.bytes,
                erased.contains(&record.seq),
            )?;
            let event = validate_logged_event(&wire).map_err(|rejection| {
                format!("record {} no longer validates: {rejection}", record.seq)
            })?;
            graph.apply(record.seq, &event);
            replayed += 1;
            Ok(())
        })
        .map_err(|error: ReplayError| error.0)?;
    Ok(replayed)
}

/// Why a replay stopped, as the message the operator sees.
struct ReplayError(String);

impl From<String> for ReplayError {
    fn from(message: String) -> Self {
        Self(message)
    }
}

impl From<lineage_log::LogError> for ReplayError {
    fn from(error: lineage_log::LogError) -> Self {
        Self(error.to_string())
    }
}

impl Ingest {
    /// Consumes until `stop` turns true, retrying with backoff through NATS
    /// outages and storage errors. Returns after the batch in flight is done
    /// and the log is flushed.
    pub async fn run(
        self,
        mut log: Log,
        mut snapshots: Snapshotter,
        mut stop: watch::Receiver<bool>,
    ) {
        let mut backoff = Backoff(Backoff::FIRST);
        // Set at the first interruption: from then on, the log and the
        // graph are brought back to agreement before each consume (when
        // they agree already, that is a flush and a comparison).
        let mut interrupted = false;
        while !*stop.borrow() {
            let recovered = match interrupted {
                true => self.recover(&mut log).await,
                false => Ok(()),
            };
            let consumed = match recovered {
                Ok(()) => {
                    let (returned, consumed) = self
                        .consume(&mut log, snapshots, &mut stop, &mut backoff)
                        .await;
                    snapshots = returned;
                    consumed
                }
                Err(error) => Err(error),
            };
            match consumed {
                Ok(()) => break,
                Err(error) => {
                    warn!(%error, "ingest interrupted; retrying");
                    interrupted = true;
                    if let IngestError::Storage(log_error) = &error
                        && log_error.needs_reopen()
                        && log.is_open()
                    {
                        // Released at once rather than at the reopen, so
                        // that an operator can remount or repair the volume
                        // meanwhile; log reads answer UNAVAILABLE until then.
                        log.close(format!("closed after a storage error ({log_error})"));
                    }
                    self.report_unhealthy(&error).await;
                    tokio::select! {
                        _ = tokio::time::sleep(backoff.next()) => {}
                        _ = stop.changed() => break,
                    }
                }
            }
        }
        match log.flush().await {
            // A snapshot at shutdown makes the next start replay nothing.
            Ok(()) => snapshots.take(&self.shared, log.head()).await,
            Err(error) => {
                warn!(%error, "final flush failed; unacknowledged messages will be redelivered")
            }
        }
        snapshots.finish().await;
        info!("ingest stopped");
    }

    /// Says ingest is not consuming, and why, in `GetStatus` and the
    /// health service.
    async fn report_unhealthy(&self, error: &IngestError) {
        self.shared.update_status(|status| {
            status.connected = false;
            status.last_error = error.to_string();
        });
        self.health
            .set_service_status(INGEST_HEALTH_SERVICE, ServingStatus::NotServing)
            .await;
    }

    /// After an interrupted consume, brings the log and the graph back to
    /// agreement before anything more is appended: reopens the log if it
    /// was closed after a storage error, flushes it, and applies to the
    /// graph the records it holds past the graph's applied sequence.
    ///
    /// Those are records of batches that were appended but not applied
    /// (their flush failed, or they were queued behind a failed commit):
    /// their messages were NAKed, and their redeliveries will be
    /// duplicates of them, so the graph must apply them now or never. A
    /// batch whose flush failed may or may not have reached the disk
    /// (sled writes in the background too), which is why nothing of it was
    /// applied before: after the reopen the log holds what is durable, and
    /// the graph applies exactly that. The graph never holds a record the
    /// log lost, and a sequence is never applied twice.
    ///
    /// Runs on the ingest runtime's thread, as appends do: a reopen waits
    /// up to a few seconds for sled's lock and rebuilds the idempotency
    /// index; ingest has nothing else to do meanwhile.
    async fn recover(&self, log: &mut Log) -> Result<(), IngestError> {
        if !log.is_open() {
            log.reopen()?;
            info!(head = log.head().seq, "log reopened");
        }
        // Whatever was appended becomes durable before the graph applies it.
        if let Err(error) = log.flush().await {
            if error.needs_reopen() {
                log.close(format!("closed after a storage error ({error})"));
            }
            return Err(error.into());
        }
        let head = log.head();
        let reader = log.reader();
        let applied = self.shared.graph().applied_seq();
        if head.seq > applied {
            let mut graph = self.shared.graph_mut();
            let replayed =
                replay_into(&mut graph, &reader, applied + 1).map_err(IngestError::CatchUp)?;
            drop(graph);
            self.shared.metrics().recovered_applied(replayed);
            info!(
                from = applied + 1,
                records = replayed,
                "the graph applied what the log held of interrupted batches"
            );
        } else if head.seq < applied {
            // Only a store that lost flushed records gets here: the graph
            // must again be the projection of the log it answers for.
            error!(
                log_head = head.seq,
                graph_applied = applied,
                "the log holds fewer records than the graph applied; rebuilding the graph from the log"
            );
            let rebuilt = replay(&reader).map_err(IngestError::CatchUp)?;
            *self.shared.graph_mut() = rebuilt;
        }
        self.shared
            .publish_applied(self.shared.graph().applied_seq());
        let redactions_pending = reader.pending_redactions()?.len() as u64;
        self.shared.update_status(|status| {
            status.head_seq = head.seq;
            status.head_hash = head.hash;
            status.duplicates = log.duplicates();
            status.dead_lettered = log.rejected();
            status.redactions_pending = redactions_pending;
        });
        Ok(())
    }

    /// Consumes until stopped or interrupted; hands the snapshotter back
    /// whatever happened.
    async fn consume(
        &self,
        log: &mut Log,
        snapshots: Snapshotter,
        stop: &mut watch::Receiver<bool>,
        backoff: &mut Backoff,
    ) -> (Snapshotter, Result<(), IngestError>) {
        match self.connect().await {
            Ok((jetstream, consumer)) => {
                self.consume_from(log, snapshots, jetstream, consumer, stop, backoff)
                    .await
            }
            Err(error) => (snapshots, Err(error)),
        }
    }

    /// The stream, dead-letter stream and durable consumer (created if
    /// missing).
    async fn connect(&self) -> Result<(jetstream::Context, PullConsumer), IngestError> {
        let config = &self.config;
        let jetstream = jetstream::new(self.client.clone());
        let events = jetstream
            .get_or_create_stream(stream::Config {
                name: config.stream.clone(),
                subjects: vec![format!("{}.>", config.subject_prefix)],
                storage: stream::StorageType::File,
                num_replicas: usize::from(config.stream_replicas),
                ..Default::default()
            })
            .await
            .map_err(jetstream_error)?;
        jetstream
            .get_or_create_stream(stream::Config {
                name: config.dlq_stream.clone(),
                subjects: vec![format!("{}.>", config.dlq_subject_prefix)],
                storage: stream::StorageType::File,
                num_replicas: usize::from(config.stream_replicas),
                ..Default::default()
            })
            .await
            .map_err(jetstream_error)?;
        let batch_size = usize::from(config.batch_size);
        let consumer = events
            .get_or_create_consumer(
                &config.consumer,
                pull::Config {
                    durable_name: Some(config.consumer.clone()),
                    ack_policy: jetstream::consumer::AckPolicy::Explicit,
                    ack_wait: config.ack_wait(),
                    // A safety net behind the puller's own bound, about
                    // what the pipeline holds when busy (pulled chunks, the
                    // batch appending, the commit queue and group). When
                    // reached, the server holds the pull request until
                    // acks make room: a pause, never a stall.
                    max_ack_pending: (batch_size * (PULLED_QUEUE + COMMIT_QUEUE + 4)) as i64,
                    ..Default::default()
                },
            )
            .await
            .map_err(jetstream_error)?;
        Ok((jetstream, consumer))
    }

    async fn consume_from(
        &self,
        log: &mut Log,
        snapshots: Snapshotter,
        jetstream: jetstream::Context,
        consumer: PullConsumer,
        stop: &mut watch::Receiver<bool>,
        backoff: &mut Backoff,
    ) -> (Snapshotter, Result<(), IngestError>) {
        let config = &self.config;
        let (pulled_tx, mut pulled) = mpsc::channel(PULLED_QUEUE);
        // Samples the lag until dropped, on every way out of this function.
        let _lag_sampler = ConsumerLagSampler::start(
            jetstream.clone(),
            config.stream.clone(),
            consumer.clone(),
            self.shared.clone(),
        );
        let puller = tokio::spawn(pull_batches(
            self.client.clone(),
            consumer,
            usize::from(config.batch_size),
            pulled_tx,
        ));
        info!(stream = %config.stream, consumer = %config.consumer, "consuming");
        self.shared.update_status(|status| {
            status.connected = true;
            status.last_error.clear();
        });
        self.health
            .set_service_status(INGEST_HEALTH_SERVICE, ServingStatus::Serving)
            .await;

        let (to_commit, pending) = mpsc::channel(COMMIT_QUEUE);
        let committer = tokio::spawn(self.clone().commit_all(
            jetstream,
            log.sync_handle(),
            log.reader(),
            snapshots,
            pending,
        ));
        let appended = loop {
            let next = tokio::select! {
                biased;
                _ = stop.changed() => break Ok(()),
                // The committer stopped on an error; it is reported below.
                _ = to_commit.closed() => break Ok(()),
                next = pulled.recv() => next,
            };
            let mut batch = match next {
                Some(Ok(batch)) => batch,
                Some(Err(error)) => break Err(error),
                None => break Err(IngestError::JetStream("the puller stopped".into())),
            };
            // Messages arrive in bursts smaller than a batch; whatever else
            // is already queued joins this append, so a busy appender makes
            // full batches (one transaction, one flush) and an idle one
            // still takes a lone message at once. (A batch so joined stays
            // under twice `batch_size`.)
            let mut failed = None;
            while batch.len() < usize::from(config.batch_size) {
                match pulled.try_recv() {
                    Ok(Ok(more)) => batch.extend(more),
                    Ok(Err(error)) => {
                        failed = Some(error);
                        break;
                    }
                    Err(_) => break,
                }
            }
            let appended = match self.append(log, batch) {
                Ok(appended) => appended,
                Err((batch, error)) => {
                    nak_all(&batch).await;
                    break Err(error.into());
                }
            };
            if let Err(mpsc::error::SendError(appended)) = to_commit.send(appended).await {
                nak_all(&appended.messages).await;
                break Ok(());
            }
            backoff.reset();
            if let Some(error) = failed {
                break Err(error);
            }
        };
        // What was pulled but not appended goes back to the server now
        // rather than after the ack wait.
        puller.abort();
        pulled.close();
        while let Some(pulled) = pulled.recv().await {
            if let Ok(batch) = pulled {
                nak_all(&batch).await;
            }
        }
        // Let the committer finish what was appended, then report the first error.
        drop(to_commit);
        match committer.await {
            Ok((snapshots, committed)) => (snapshots, appended.and(committed)),
            Err(panic) => {
                // Not expected (nothing in the committer panics on input);
                // keep ingesting without periodic snapshots rather than stop.
                let snapshots = Snapshotter::disabled(&self.config);
                let error = IngestError::JetStream(format!("commit task failed: {panic}"));
                (snapshots, Err(error))
            }
        }
    }

    /// Classifies a batch and appends what is valid to the log (not yet
    /// durable). On a storage error the batch is handed back to be NAKed.
    #[instrument(skip_all, fields(messages = batch.len()))]
    fn append(
        &self,
        log: &mut Log,
        batch: Vec<jetstream::Message>,
    ) -> Result<AppendedBatch, (Vec<jetstream::Message>, lineage_log::LogError)> {
        let mut accepted: Vec<(usize, Accepted)> = Vec::with_capacity(batch.len());
        let mut rejected: Vec<(usize, Rejection)> = Vec::new();
        let field_secret = log.field_secret();
        for (index, message) in batch.iter().enumerate() {
            match classify(&self.config, &field_secret, message) {
                Ok(valid) => accepted.push((index, valid)),
                Err(rejection) => rejected.push((index, rejection)),
            }
        }
        let new_records: Vec<NewRecord<'_>> = accepted
            .iter()
            .map(|(index, valid)| NewRecord {
                stream_seq: stream_seq(&batch[*index]),
                key: &valid.key,
                content_digest: valid.digests.content,
                payload_digest: valid.digests.payload,
                encoding: valid.encoding.as_byte(),
                bytes: &batch[*index].payload,
                redaction: matches!(valid.event.payload, Payload::RedactionRequested(_)),
                received_at: received_at(&batch[*index]),
            })
            .collect();
        let outcomes = log.append_batch(&new_records, now_unix_nanos());
        drop(new_records);
        let outcomes = match outcomes {
            Ok(outcomes) => outcomes,
            Err(error) => return Err((batch, error)),
        };
        // The log marked each redaction stored pending with its record.
        let mut redactions = false;
        for ((_, valid), outcome) in accepted.iter().zip(&outcomes) {
            if let (Payload::RedactionRequested(_), Appended::Stored { .. }) =
                (&valid.event.payload, outcome)
            {
                self.shared
                    .update_status(|status| status.redactions_pending += 1);
                redactions = true;
            }
        }
        Ok(AppendedBatch {
            messages: batch,
            accepted,
            outcomes,
            rejected,
            head: log.head(),
            duplicates: log.duplicates(),
            redactions,
        })
    }

    /// The second stage: makes each appended batch durable, applies it,
    /// dead-letters its rejects and acknowledges it, in order. On an error
    /// the batches still queued are NAKed (they will be redelivered).
    async fn commit_all(
        self,
        jetstream: jetstream::Context,
        sync: LogSync,
        reader: LogReader,
        mut snapshots: Snapshotter,
        mut pending: mpsc::Receiver<AppendedBatch>,
    ) -> (Snapshotter, Result<(), IngestError>) {
        // Erasures a crash left undone come first.
        if let Err(error) = self
            .carry_out_redactions(&jetstream, &sync, &reader, &mut snapshots)
            .await
        {
            return (snapshots, Err(error));
        }
        let mut group = Vec::with_capacity(COMMIT_QUEUE + 1);
        while let Some(batch) = pending.recv().await {
            // Group commit: one flush for every batch already waiting.
            group.push(batch);
            while group.len() <= COMMIT_QUEUE {
                match pending.try_recv() {
                    Ok(batch) => group.push(batch),
                    Err(_) => break,
                }
            }
            let commit_started = std::time::Instant::now();
            let flushed = sync.flush().await;
            self.shared.metrics().log_flushed(commit_started.elapsed());
            let head = group.last().map(|batch| batch.head);
            let redactions = group.iter().any(|batch| batch.redactions);
            let mut failed = None;
            for batch in group.drain(..) {
                if failed.is_some() {
                    nak_unflushed(&batch).await;
                } else if let Err(error) =
                    self.commit(&jetstream, &sync, batch, flushed.clone()).await
                {
                    failed = Some(error);
                }
            }
            self.shared
                .metrics()
                .group_committed(commit_started.elapsed());
            if let Some(error) = failed {
                pending.close();
                while let Some(batch) = pending.recv().await {
                    nak_unflushed(&batch).await;
                }
                return (snapshots, Err(error));
            }
            if redactions
                && let Err(error) = self
                    .carry_out_redactions(&jetstream, &sync, &reader, &mut snapshots)
                    .await
            {
                pending.close();
                while let Some(batch) = pending.recv().await {
                    nak_unflushed(&batch).await;
                }
                return (snapshots, Err(error));
            }
            if let Some(head) = head.filter(|head| snapshots.due(head.seq)) {
                snapshots.take(&self.shared, head).await;
            }
        }
        (snapshots, Ok(()))
    }

    /// Carries out every pending redaction (the graph has applied them):
    /// erases the fields from the log's records, makes that durable, erases
    /// the messages from the stream, deletes the snapshots written before,
    /// and only then marks the redaction done. A failure leaves it pending,
    /// to be carried out again (which is harmless) after the retry.
    async fn carry_out_redactions(
        &self,
        jetstream: &jetstream::Context,
        sync: &LogSync,
        reader: &LogReader,
        snapshots: &mut Snapshotter,
    ) -> Result<(), IngestError> {
        let pending = reader.pending_redactions()?;
        let left = pending.len() as u64;
        self.shared
            .update_status(|status| status.redactions_pending = left);
        if pending.is_empty() {
            return Ok(());
        }
        for redaction_seq in pending {
            let (reader_now, sync_now) = (reader.clone(), sync.clone());
            let erasure = tokio::task::spawn_blocking(move || {
                redact::carry_out(&reader_now, &sync_now, redaction_seq)
            })
            .await
            .map_err(|error| IngestError::Redaction(error.to_string()))?
            .map_err(IngestError::Redaction)?;
            sync.flush().await?;
            let stream = jetstream
                .get_stream(&self.config.stream)
                .await
                .map_err(jetstream_error)?;
            let mut stream_erased = 0u64;
            for stream_seq in &erasure.stream_seqs {
                // A message already gone (the stream's limits removed it) is
                // as erased as can be.
                match stream.delete_message(*stream_seq).await {
                    Ok(_) => stream_erased += 1,
                    Err(error) => {
                        debug!(%error, stream_seq, "message not erased from the stream")
                    }
                }
            }
            snapshots.discard_all().await;
            sync.redaction_done(redaction_seq)?;
            sync.flush().await?;
            self.shared.update_status(|status| {
                status.redactions_pending = status.redactions_pending.saturating_sub(1)
            });
            info!(
                redaction_seq,
                entity = %erasure.entity.map(|e| e.to_string()).unwrap_or_default(),
                records = erasure.records,
                stream_erased,
                "redaction carried out"
            );
        }
        // A snapshot now, so a restart does not replay the whole log.
        let head = self.shared.status().head_seq;
        if let Ok(Some(record)) = reader.record(head) {
            snapshots
                .take(
                    &self.shared,
                    lineage_log::Head {
                        seq: head,
                        hash: record.hash,
                    },
                )
                .await;
        }
        Ok(())
    }

    /// Applies the stored records of a batch to the graph, and turns
    /// conflicting duplicates into rejections. Returns (stored, duplicates).
    fn apply(&self, batch: &mut AppendedBatch) -> (usize, usize) {
        let mut stored = 0usize;
        let mut duplicates = 0usize;
        // The write lock is taken per chunk, not per batch, so a query waits
        // for a few events' worth of applying at most.
        let chunks = batch
            .accepted
            .chunks(APPLY_CHUNK)
            .zip(batch.outcomes.chunks(APPLY_CHUNK));
        for (accepted, outcomes) in chunks {
            let mut graph = self.shared.graph_mut();
            for ((index, valid), outcome) in accepted.iter().zip(outcomes) {
                match outcome {
                    Appended::Stored { seq } => {
                        graph.apply(*seq, &valid.event);
                        stored += 1;
                    }
                    Appended::Duplicate { .. } => duplicates += 1,
                    Appended::Conflict { seq } => batch.rejected.push((
                        *index,
                        Rejection::new(
                            RejectReason::ConflictingDuplicate,
                            format!(
                                "event_id {:?} was stored at log sequence {seq} with different content; the first one stands",
                                valid.event.id.as_str()
                            ),
                        ),
                    )),
                }
            }
        }
        let applied = self.shared.graph().applied_seq();
        self.shared.publish_applied(applied);
        self.shared
            .metrics()
            .batch_applied(batch.messages.len(), stored, duplicates);
        (stored, duplicates)
    }

    #[instrument(skip_all, fields(messages = batch.messages.len()))]
    async fn commit(
        &self,
        jetstream: &jetstream::Context,
        sync: &LogSync,
        mut batch: AppendedBatch,
        flushed: Result<(), lineage_log::LogError>,
    ) -> Result<(), IngestError> {
        // A batch whose flush failed is neither applied nor acknowledged,
        // nor is its head reported: its records may not be durable (sled
        // poisons its store after a failed write, and what it appended
        // since the last good flush may or may not be on disk). The log is
        // reopened, and the graph applies what the reopened log holds,
        // before anything more is consumed ([`Ingest::recover`]).
        if let Err(error) = flushed {
            nak_all(&batch.messages).await;
            return Err(error.into());
        }
        // The log's head is reported before the graph's applied sequence
        // moves, so whoever sees a sequence applied also sees a head at or
        // past it, never the hash of an older head beside it.
        self.shared.update_status(|status| {
            status.head_seq = batch.head.seq;
            status.head_hash = batch.head.hash;
            status.duplicates = batch.duplicates;
            status.dead_lettered = sync.rejected();
        });
        let (stored, duplicates) = self.apply(&mut batch);
        let AppendedBatch {
            messages, rejected, ..
        } = batch;

        let mut unacked = vec![false; messages.len()];
        for (index, rejection) in &rejected {
            let message = &messages[*index];
            match self.dead_letter(jetstream, message, rejection).await {
                Ok(()) => {
                    debug!(reason = rejection.reason.code(), detail = %rejection.detail, "dead-lettered");
                    match sync.record_rejection(stream_seq(message), rejection.reason.code()) {
                        // Counted once per message, not per redelivery.
                        Ok(true) => self.shared.metrics().dead_lettered(rejection.reason),
                        Ok(false) => {}
                        Err(error) => {
                            // Applied and durable, but not acknowledged: the
                            // messages come back as duplicates (and rejects,
                            // which the dead-letter stream deduplicates).
                            nak_all(&messages).await;
                            return Err(error.into());
                        }
                    }
                }
                Err(error) => {
                    warn!(%error, "dead-letter publish failed; will retry on redelivery");
                    self.shared
                        .update_status(|status| status.last_error = error.to_string());
                    unacked[*index] = true;
                }
            }
        }
        if !rejected.is_empty() {
            if let Err(error) = sync.flush().await {
                nak_all(&messages).await;
                return Err(error.into());
            }
            let dead_lettered = sync.rejected();
            self.shared
                .update_status(|status| status.dead_lettered = dead_lettered);
        }

        for (message, keep) in messages.iter().zip(unacked) {
            let result = if keep {
                message
                    .ack_with(AckKind::Nak(Some(Duration::from_secs(1))))
                    .await
            } else {
                message.ack().await
            };
            if let Err(error) = result {
                // The message will be redelivered and recognised as a duplicate.
                warn!(%error, "ack failed");
            }
        }
        debug!(stored, duplicates, rejected = rejected.len(), "batch done");
        Ok(())
    }

    async fn dead_letter(
        &self,
        jetstream: &jetstream::Context,
        message: &jetstream::Message,
        rejection: &Rejection,
    ) -> Result<(), IngestError> {
        let subject = message.subject.as_str();
        let workspace = subject
            .strip_prefix(&self.config.subject_prefix)
            .and_then(|rest| rest.strip_prefix('.'))
            .filter(|rest| !rest.is_empty())
            .unwrap_or("unknown");
        let mut headers = dead_letter_headers(&self.config.stream, message, rejection);
        if let Some(content_type) = message.headers.as_ref().and_then(|h| h.get("Content-Type")) {
            headers.insert("Content-Type", content_type.as_str());
        }
        jetstream
            .publish_with_headers(
                format!("{}.{workspace}", self.config.dlq_subject_prefix),
                headers,
                message.payload.clone(),
            )
            .await
            .map_err(jetstream_error)?
            .await
            .map_err(jetstream_error)?;
        Ok(())
    }
}

/// Takes a snapshot of the graph every so many records, and writes it off
/// the ingest path (one file at a time).
pub(crate) struct Snapshotter {
    store: SnapshotStore,
    /// Records between snapshots; 0 turns snapshots off.
    every: u64,
    /// The sequence of the newest snapshot taken (or restored from).
    last_seq: u64,
    writing: Option<tokio::task::JoinHandle<()>>,
}

impl Snapshotter {
    pub(crate) fn new(config: &Config, restored_from: Option<u64>) -> Self {
        Self {
            store: SnapshotStore::new(&config.data_dir),
            every: config.snapshot_every,
            last_seq: restored_from.unwrap_or(0),
            writing: None,
        }
    }

    fn disabled(config: &Config) -> Self {
        Self {
            every: 0,
            ..Self::new(config, None)
        }
    }

    fn due(&self, seq: u64) -> bool {
        self.every > 0 && seq >= self.last_seq.saturating_add(self.every)
    }

    /// Encodes the graph now (it must be at `head`) and writes it in the
    /// background; skipped while the previous file is still being written.
    async fn take(&mut self, shared: &Shared, head: lineage_log::Head) {
        if self.every == 0 || head.seq == 0 || head.seq <= self.last_seq {
            return;
        }
        if self.writing.as_ref().is_some_and(|w| !w.is_finished()) {
            return;
        }
        let started = std::time::Instant::now();
        let graph = shared.graph();
        if graph.applied_seq() != head.seq {
            warn!(
                graph_seq = graph.applied_seq(),
                log_seq = head.seq,
                "graph and log disagree; no snapshot taken"
            );
            return;
        }
        // Encoded under the read lock, and written as it is encoded by a
        // writer of its own through a short queue: the whole snapshot is
        // never in memory (2.7 GB at 10 M events).
        let (chunks, received) = std::sync::mpsc::sync_channel::<Vec<u8>>(SNAPSHOT_QUEUE);
        let store = self.store.clone();
        let writer = tokio::task::spawn_blocking(move || {
            store.write_streamed(head.seq, &head.hash, received)
        });
        let mut bytes = 0usize;
        graph.write_snapshot(&mut |chunk| {
            bytes += chunk.len();
            // A writer that failed has said why; the encoding still ends.
            let _ = chunks.send(chunk.to_vec());
        });
        drop(graph);
        let _ = chunks.send(Vec::new());
        let encode_ms = started.elapsed().as_millis() as u64;
        self.last_seq = head.seq;
        self.writing = Some(tokio::spawn(async move {
            match writer.await {
                Ok(Ok(path)) => info!(
                    path = %path.display(),
                    seq = head.seq,
                    bytes,
                    encode_ms,
                    "snapshot written"
                ),
                Ok(Err(error)) => warn!(%error, seq = head.seq, "snapshot not written"),
                Err(error) => warn!(%error, seq = head.seq, "snapshot writer failed"),
            }
        }));
    }

    /// Waits for the file being written, if any.
    async fn finish(&mut self) {
        if let Some(writing) = self.writing.take() {
            let _ = writing.await;
        }
    }

    /// Deletes every snapshot file (after a redaction: they hold what it
    /// erased), once the one being written, if any, is done.
    async fn discard_all(&mut self) {
        self.finish().await;
        if let Err(error) = self.store.remove_all() {
            warn!(%error, "could not delete the snapshots written before a redaction");
        }
        self.last_seq = 0;
    }
}

/// Snapshot chunks (about a MiB each) on their way to the file.
const SNAPSHOT_QUEUE: usize = 4;

/// Events applied under one hold of the graph's write lock (about 0.1 ms).
const APPLY_CHUNK: usize = 32;

/// Pulled chunks waiting for the appender, which joins them into batches.
/// Chunks are often smaller than a batch (messages arrive in bursts), so
/// this holds a few batches' worth at most.
const PULLED_QUEUE: usize = 8;

/// How long one pull request waits on the server for messages to arrive.
/// An idle consumer sends one request per this period.
const PULL_EXPIRES: Duration = Duration::from_secs(5);

/// Appended batches waiting for the committer. Two keep the appender busy
/// while the committer flushes; more would only hold more messages
/// unacknowledged.
const COMMIT_QUEUE: usize = 2;

type PullConsumer = jetstream::consumer::Consumer<pull::Config>;

/// Pulls messages with one explicit request of `batch_size` at a time and
/// hands them on as they arrive, in stream order, until the receiver is
/// gone or the server answers with an error (sent on, then the task ends).
///
/// Explicit requests, rather than async-nats's self-refilling message
/// stream: that stream counts the messages it believes are still owed and
/// refills below half a batch, and under load the count drifts up (messages
/// of a new request can arrive before the request is counted), so it stops
/// asking while the server, owing nothing, stops sending; ingest then stood
/// still until the missed-heartbeat error, about 10 s each time. Here the
/// next request goes out when the previous one is answered, so nothing is
/// owed across requests. The bounded queue plus one request in flight are
/// all the messages held unacknowledged before the appender.
async fn pull_batches(
    client: async_nats::Client,
    consumer: PullConsumer,
    batch_size: usize,
    pulled: mpsc::Sender<Result<Vec<jetstream::Message>, IngestError>>,
) {
    loop {
        // No idle heartbeat: a request the server cannot answer ends on the
        // client's own timer shortly after its expiry, and a lost
        // connection is noticed below, between requests.
        let request = consumer
            .batch()
            .max_messages(batch_size)
            .expires(PULL_EXPIRES)
            .messages()
            .await;
        let messages = match request {
            Ok(messages) => messages,
            Err(error) => {
                let _ = pulled.send(Err(jetstream_error(error))).await;
                return;
            }
        };
        let mut chunks = messages.ready_chunks(batch_size);
        while let Some(chunk) = chunks.next().await {
            let mut batch = Vec::with_capacity(chunk.len());
            let mut failed = None;
            for item in chunk {
                match item {
                    Ok(message) => batch.push(message),
                    Err(error) => failed = Some(jetstream_error(error)),
                }
            }
            if !batch.is_empty() && pulled.send(Ok(batch)).await.is_err() {
                return;
            }
            if let Some(error) = failed {
                let _ = pulled.send(Err(error)).await;
                return;
            }
        }
        if client.connection_state() != async_nats::connection::State::Connected {
            let error = IngestError::JetStream("lost the connection to NATS".into());
            let _ = pulled.send(Err(error)).await;
            return;
        }
    }
}

/// A batch appended to the log, on its way to being durable, applied and
/// acknowledged.
struct AppendedBatch {
    messages: Vec<jetstream::Message>,
    accepted: Vec<(usize, Accepted)>,
    /// One per accepted message, in order.
    outcomes: Vec<Appended>,
    rejected: Vec<(usize, Rejection)>,
    /// The log's head and duplicate count right after this batch.
    head: lineage_log::Head,
    duplicates: u64,
    /// Whether it stored a `RedactionRequested`.
    redactions: bool,
}

/// A message that passed validation.
struct Accepted {
    event: Event,
    /// Workspace, NUL, event id: the log's idempotency key.
    key: Vec<u8>,
    digests: Digests,
    encoding: Encoding,
}

fn classify(
    config: &Config,
    field_secret: &[u8; 32],
    message: &jetstream::Message,
) -> Result<Accepted, Rejection> {
    if message.payload.len() > config.max_event_bytes {
        return Err(Rejection::new(
            RejectReason::Oversize,
            format!(
                "message is {} bytes, the limit is {}",
                message.payload.len(),
                config.max_event_bytes
            ),
        ));
    }
    let content_type = message
        .headers
        .as_ref()
        .and_then(|headers| headers.get("Content-Type"))
        .map(|value| value.as_str());
    let encoding = Encoding::from_content_type(content_type);
    let wire = decode_event(&message.payload, encoding)?;
    let event = validate_event(&wire)?;
    let subject_workspace = message
        .subject
        .as_str()
        .strip_prefix(&config.subject_prefix)
        .and_then(|rest| rest.strip_prefix('.'));
    if subject_workspace != Some(event.workspace.as_str()) {
        return Err(Rejection::new(
            RejectReason::WorkspaceMismatch,
            format!(
                "workspace {:?} published on subject {:?}; expected {}.{}",
                event.workspace.as_str(),
                message.subject.as_str(),
                config.subject_prefix,
                event.workspace
            ),
        ));
    }
    let mut key = Vec::with_capacity(event.workspace.as_str().len() + 1 + event.id.as_str().len());
    key.extend_from_slice(event.workspace.as_str().as_bytes());
    key.push(0);
    key.extend_from_slice(event.id.as_str().as_bytes());
    let digests = digests(
        &wire,
        &message.payload,
        &record_field_key(field_secret, &key),
    );
    Ok(Accepted {
        key,
        digests,
        encoding,
        event,
    })
}

/// The headers of `message`'s dead letter: why it was rejected, and where
/// it came from (`stream`, its subject and sequence).
pub(crate) fn dead_letter_headers(
    stream: &str,
    message: &jetstream::Message,
    rejection: &Rejection,
) -> async_nats::HeaderMap {
    let seq = stream_seq(message);
    let mut headers = async_nats::HeaderMap::new();
    // Deduplicated by the dead-letter stream, so a redelivery after a
    // crash does not dead-letter the same message twice.
    headers.insert("Nats-Msg-Id", format!("{stream}-{seq}").as_str());
    headers.insert(dlq_headers::REASON, rejection.reason.code());
    headers.insert(dlq_headers::DETAIL, header_safe(&rejection.detail).as_str());
    headers.insert(dlq_headers::ORIGINAL_SUBJECT, message.subject.as_str());
    headers.insert(dlq_headers::ORIGINAL_STREAM_SEQ, seq.to_string().as_str());
    headers
}

/// When JetStream stored `message` (ns since the epoch), the same for every
/// replica consuming the stream; 0 (the log then uses its own clock) if the
/// message says nothing.
fn received_at(message: &jetstream::Message) -> i64 {
    message
        .info()
        .ok()
        .and_then(|info| i64::try_from(info.published.unix_timestamp_nanos()).ok())
        .unwrap_or_default()
}

fn stream_seq(message: &jetstream::Message) -> u64 {
    message
        .info()
        .map(|info| info.stream_sequence)
        .unwrap_or_default()
}

/// For a batch behind a failed commit: nothing of it is applied or
/// acknowledged, since its records are not known to be durable. What the
/// log holds of it is applied by [`Ingest::recover`] before ingest goes on;
/// the messages come back and are recognised as duplicates of those
/// records, or stored anew.
async fn nak_unflushed(batch: &AppendedBatch) {
    nak_all(&batch.messages).await;
}

async fn nak_all(batch: &[jetstream::Message]) {
    for message in batch {
        let _ = message
            .ack_with(AckKind::Nak(Some(Duration::from_secs(1))))
            .await;
    }
}

pub(crate) fn now_unix_nanos() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or_default()
}

/// Header values are single lines of visible text; details may quote input.
fn header_safe(text: &str) -> String {
    let mut safe: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(1024)
        .collect();
    if safe.is_empty() {
        safe.push('-');
    }
    safe
}
