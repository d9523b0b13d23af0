//! `Replay`: the log's records streamed in order, exactly as stored.
//!
//! A task per replay reads the log in chunks on the blocking pool (at most
//! [`CHUNK_RECORDS`] records sent, [`CHUNK_SCAN`] read, per chunk, so a
//! selective filter over a long log never holds a thread for long), and
//! hands each record to a channel of [`STREAM_BUFFER`]. tonic takes from
//! the channel only as fast as HTTP/2 flow control lets it send, so a slow
//! client costs at most a chunk and a buffer of memory. A client that takes
//! nothing for the stall timeout gets DEADLINE_EXCEEDED and frees its slot;
//! the error is delivered after what was buffered, never as a silent end
//! that would look like a complete history.

use std::sync::Arc;
use std::time::Duration;

use futures_util::Stream;
use lineage_core::chain::SignedCheckpoint;
use lineage_core::{EntityKey, Event, EventTime, PayloadKind, Workspace};
use lineage_log::{LogError, LogReader, RecordRef};
use lineage_proto::convert;
use lineage_proto::v1;
use lineage_proto::validate::{self, Encoding};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tonic::Status;

use super::{ApiError, MAX_FILTER_ITEMS};
use crate::auth::{Principal, Role, Scope};
use crate::redact;

/// Most records one chunk sends.
const CHUNK_RECORDS: usize = 256;
/// Most records one chunk reads, sent or filtered out.
const CHUNK_SCAN: u64 = 16_384;
/// Records queued for the client beyond the one being sent.
const STREAM_BUFFER: usize = 64;

/// The records a replay sends.
#[derive(Debug, Clone)]
pub(super) struct ReplayFilter {
    from_seq: u64,
    /// Inclusive; `u64::MAX` until resolved against the head.
    to_seq: u64,
    from_time: Option<i64>,
    to_time: Option<i64>,
    workspaces: Vec<Workspace>,
    kinds: Vec<PayloadKind>,
    entity: Option<EntityKey>,
}

impl ReplayFilter {
    /// Parses a request; a malformed field is INVALID_ARGUMENT naming it.
    pub(super) fn parse(request: &v1::ReplayRequest) -> Result<Self, ApiError> {
        let from_seq = request.from_seq.max(1);
        let to_seq = match request.to_seq {
            0 => u64::MAX,
            to if to < from_seq => {
                return Err(ApiError::invalid(
                    "to_seq",
                    format!("{to} is before from_seq {from_seq}"),
                ));
            }
            to => to,
        };
        let from_time = validate::request_time("from_time", request.from_time.as_ref())?;
        let to_time = validate::request_time("to_time", request.to_time.as_ref())?;
        if let (Some(from), Some(to)) = (from_time, to_time)
            && to < from
        {
            return Err(ApiError::invalid("to_time", "is before from_time"));
        }
        if request.workspaces.len() > MAX_FILTER_ITEMS {
            return Err(ApiError::invalid(
                "workspaces",
                format!("at most {MAX_FILTER_ITEMS} may be listed"),
            ));
        }
        let workspaces = request
            .workspaces
            .iter()
            .enumerate()
            .map(|(i, ws)| {
                Workspace::parse(ws)
                    .map_err(|e| ApiError::invalid(&format!("workspaces[{i}]"), e.to_string()))
            })
            .collect::<Result<_, _>>()?;
        if request.kinds.len() > MAX_FILTER_ITEMS {
            return Err(ApiError::invalid(
                "kinds",
                format!("at most {MAX_FILTER_ITEMS} may be listed"),
            ));
        }
        let kinds = request
            .kinds
            .iter()
            .enumerate()
            .map(|(i, &kind)| validate::payload_kind(&format!("kinds[{i}]"), kind))
            .collect::<Result<_, _>>()?;
        let entity = request
            .entity
            .as_ref()
            .map(|entity| validate::entity_key("entity", Some(entity)))
            .transpose()?;
        Ok(Self {
            from_seq,
            to_seq,
            from_time,
            to_time,
            workspaces,
            kinds,
            entity,
        })
    }

    /// The filter narrowed to what `caller` may read: a caller scoped to
    /// some workspaces replays only theirs (all of them when the request
    /// names none), and naming another is PERMISSION_DENIED.
    pub(super) fn within(mut self, caller: &Principal) -> Result<Self, ApiError> {
        match caller.scope() {
            Scope::Every => {}
            Scope::Only(readable) if self.workspaces.is_empty() => {
                self.workspaces = readable.iter().cloned().collect();
            }
            Scope::Only(_) => caller.may(Role::Auditor, &self.workspaces)?,
        }
        Ok(self)
    }

    /// Ends the replay at `head` when the request left its end open: a
    /// replay sends what was stored when it started, and ends.
    pub(super) fn up_to(mut self, head: u64) -> Self {
        self.to_seq = self.to_seq.min(head);
        self
    }

    /// Whether an event (decoded and validated, `None` if it is neither,
    /// which only the range and time filters admit) passes the filters.
    fn admits(&self, event: Option<&Event>) -> bool {
        if self.workspaces.is_empty() && self.kinds.is_empty() && self.entity.is_none() {
            return true;
        }
        let Some(event) = event else {
            return false;
        };
        (self.workspaces.is_empty() || self.workspaces.contains(&event.workspace))
            && (self.kinds.is_empty() || self.kinds.contains(&event.payload.kind()))
            && self
                .entity
                .as_ref()
                .is_none_or(|entity| event.mentions().contains(entity))
    }

    fn needs_validation(&self) -> bool {
        !(self.workspaces.is_empty() && self.kinds.is_empty() && self.entity.is_none())
    }
}

/// What one chunk read.
struct Chunk {
    records: Vec<v1::LogRecord>,
    /// The sequence the next chunk starts from.
    next_seq: u64,
    /// Nothing more to send.
    done: bool,
}

/// Why reading a chunk stopped before the end of the log.
enum Stop {
    Full(u64),
    Past,
    Log(LogError),
}

impl From<LogError> for Stop {
    fn from(error: LogError) -> Self {
        Stop::Log(error)
    }
}

/// The chunk from `from_seq`; `None` if redactions changed its records
/// every time it was read.
fn read_chunk(
    reader: &LogReader,
    filter: &ReplayFilter,
    from_seq: u64,
) -> Result<Option<Chunk>, LogError> {
    // A redaction carried out while the chunk was read could leave a
    // record's new bytes sent as the bytes received: the chunk is read
    // again if the erased records of its range changed meanwhile.
    let erased_in_range = || -> Result<std::collections::BTreeMap<u64, Vec<u8>>, LogError> {
        reader
            .erased_in(from_seq, from_seq.saturating_add(CHUNK_SCAN))
            .map(|entry| entry.map(|(seq, kept)| (seq, kept.to_vec())))
            .collect()
    };
    for _ in 0..CHUNK_ATTEMPTS {
        let erased = erased_in_range()?;
        let chunk = read_chunk_once(reader, filter, from_seq, &erased)?;
        if erased_in_range()? == erased {
            return Ok(Some(chunk));
        }
    }
    Ok(None)
}

/// Reads of one chunk before a replay gives up on a range that redactions
/// keep changing.
const CHUNK_ATTEMPTS: usize = 8;

fn read_chunk_once(
    reader: &LogReader,
    filter: &ReplayFilter,
    from_seq: u64,
    erased: &std::collections::BTreeMap<u64, Vec<u8>>,
) -> Result<Chunk, LogError> {
    let mut records = Vec::new();
    let mut scanned = 0;
    let secret = reader.field_secret();
    let outcome = reader.for_each_from(from_seq, |record: RecordRef<'_>| {
        if record.seq > filter.to_seq || filter.to_time.is_some_and(|to| record.recorded_at > to) {
            return Err(Stop::Past);
        }
        scanned += 1;
        if filter
            .from_time
            .is_none_or(|from| record.recorded_at >= from)
        {
            let kept = erased.get(&record.seq).map(Vec::as_slice);
            let event =
                redact::decode_stored(record.seq, record.encoding, record.bytes, kept.is_some())
                    .ok();
            let validated = match (&event, filter.needs_validation()) {
                (Some(event), true) => validate::validate_logged_event(event).ok(),
                _ => None,
            };
            if filter.admits(validated.as_ref()) {
                let (field_key, redaction) =
                    redact::replayed_fields(&secret, &record, event.as_ref(), kept);
                let mut sent = log_record(&record, event);
                if redaction.is_some() {
                    // The bytes as received held what was erased.
                    sent.original.clear();
                }
                sent.field_key = field_key;
                sent.redaction = redaction;
                records.push(sent);
            }
        }
        if records.len() >= CHUNK_RECORDS || scanned >= CHUNK_SCAN {
            return Err(Stop::Full(record.seq + 1));
        }
        Ok(())
    });
    let (next_seq, done) = match outcome {
        Ok(()) | Err(Stop::Past) => (0, true),
        Err(Stop::Full(next)) => (next, next > filter.to_seq),
        Err(Stop::Log(error)) => return Err(error),
    };
    attach_checkpoints(reader, &mut records)?;
    Ok(Chunk {
        records,
        next_seq,
        done,
    })
}

/// Gives each record the signed checkpoint of it, if one is stored, so
/// that a replay written to a file carries its own evidence.
fn attach_checkpoints(reader: &LogReader, records: &mut [v1::LogRecord]) -> Result<(), LogError> {
    let (Some(first), Some(last)) = (records.first(), records.last()) else {
        return Ok(());
    };
    let first_seq = first.seq;
    for entry in reader.checkpoints(first_seq, last.seq) {
        let (seq, bytes) = entry?;
        // Records are in order and dense but for filtered ones.
        let Ok(at) = records.binary_search_by_key(&seq, |record| record.seq) else {
            continue;
        };
        // A stored checkpoint that does not parse is sent as absent;
        // VerifyLog names it.
        if let Ok(signed) = SignedCheckpoint::from_bytes(&bytes) {
            records[at].checkpoint = Some(convert::signed_checkpoint(&signed));
        }
    }
    Ok(())
}

fn log_record(record: &RecordRef<'_>, event: Option<v1::Event>) -> v1::LogRecord {
    let encoding = match Encoding::from_byte(record.encoding) {
        Some(Encoding::Protobuf) => v1::PayloadEncoding::Protobuf,
        Some(Encoding::Json) => v1::PayloadEncoding::Json,
        None => v1::PayloadEncoding::Unspecified,
    };
    v1::LogRecord {
        seq: record.seq,
        stream_seq: record.stream_seq,
        recorded_at: Some(convert::timestamp(EventTime::from_unix_nanos(
            record.recorded_at,
        ))),
        recorded_at_unix_nanos: record.recorded_at,
        encoding: encoding as i32,
        key: record.key.to_vec(),
        content_digest: hex::encode(record.content_digest),
        payload_digest: hex::encode(record.payload_digest),
        prev_hash: hex::encode(record.prev_hash),
        hash: hex::encode(record.hash),
        event,
        original: record.bytes.to_vec(),
        checkpoint: None,
        field_key: String::new(),
        redaction: None,
    }
}

/// The stream of a replay.
pub(super) type ReplayStream =
    std::pin::Pin<Box<dyn Stream<Item = Result<v1::LogRecord, Status>> + Send>>;

/// Starts streaming the records `filter` admits. `permit` is the replay's
/// slot, held until the stream ends or its client goes away.
pub(super) fn start(
    reader: LogReader,
    filter: ReplayFilter,
    stall: Duration,
    permit: OwnedSemaphorePermit,
) -> ReplayStream {
    let (records, receiver) = mpsc::channel(STREAM_BUFFER);
    let (ending, ended) = oneshot::channel();
    tokio::spawn(async move {
        let _permit = permit;
        let outcome = send_all(reader, Arc::new(filter), stall, &records).await;
        // Sent after the records already queued; the client may be gone.
        let _ = ending.send(outcome.err());
    });
    Box::pin(futures_util::stream::unfold(
        (receiver, Some(ended)),
        |(mut receiver, ended)| async move {
            if let Some(record) = receiver.recv().await {
                return Some((Ok(record), (receiver, ended)));
            }
            // The records are all sent: the end, or the error that ended them.
            match ended?.await {
                Ok(Some(status)) => Some((Err(status), (receiver, None))),
                Ok(None) | Err(_) => None,
            }
        },
    ))
}

/// Reads and sends every chunk; `Err` is the status that ended the replay
/// early. A client that went away ends it quietly.
async fn send_all(
    reader: LogReader,
    filter: Arc<ReplayFilter>,
    stall: Duration,
    records: &mpsc::Sender<v1::LogRecord>,
) -> Result<(), Status> {
    let mut next_seq = filter.from_seq;
    loop {
        let chunk = {
            let (reader, filter) = (reader.clone(), filter.clone());
            tokio::task::spawn_blocking(move || read_chunk(&reader, &filter, next_seq))
                .await
                .map_err(|error| Status::from(ApiError::Internal(error.to_string())))?
                .map_err(|error| Status::from(ApiError::Storage(error.to_string())))?
                .ok_or_else(|| {
                    Status::unavailable(format!(
                        "redactions kept changing the records from {next_seq}; resume from record {next_seq}"
                    ))
                })?
        };
        for record in chunk.records {
            let seq = record.seq;
            match tokio::time::timeout(stall, records.send(record)).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return Ok(()),
                Err(_) => {
                    return Err(Status::deadline_exceeded(format!(
                        "the client took no record for {} s; resume from record {seq}",
                        stall.as_secs()
                    )));
                }
            }
        }
        if chunk.done {
            return Ok(());
        }
        next_seq = chunk.next_seq;
    }
}

/// Bounds the replays streamed at once.
pub(super) fn try_slot(slots: &Arc<Semaphore>) -> Result<OwnedSemaphorePermit, ApiError> {
    slots.clone().try_acquire_owned().map_err(|_| {
        ApiError::Busy("every replay slot is taken; retry when a replay has finished".into())
    })
}
