//! Signed checkpoints of the log's head.
//!
//! With a signing key configured, the service signs (sequence, head hash,
//! time) every `--checkpoint-every-secs` when the head has moved, and once
//! more at shutdown, and stores the signature in the log's `checkpoints`
//! tree. The chain alone cannot tell a log cut short, or rewritten from
//! some record to its end with every hash recomputed, from an honest one; a
//! signature over a head it no longer reaches, or over a hash it no longer
//! has, can (`VerifyLog`, and `lineage replay --verify --public-key` for
//! whoever holds only the public key).
//!
//! Only a durable head is signed: the log is flushed before the head is
//! read back, and the checkpoint is flushed after it is stored.

use std::sync::Arc;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use lineage_core::chain::{Checkpoint, SignedCheckpoint};
use lineage_log::{LogError, LogReader, LogSync};
use tokio::sync::watch;
use tracing::{info, warn};

use crate::ingest::now_unix_nanos;
use crate::state::Shared;

/// Signs and stores checkpoints of the head the service reports.
#[derive(Debug)]
pub struct Checkpointer {
    key: SigningKey,
    sync: LogSync,
    reader: LogReader,
    shared: Arc<Shared>,
    /// The record of the newest checkpoint stored (0 for none).
    last_seq: u64,
}

impl Checkpointer {
    pub fn new(
        key: SigningKey,
        sync: LogSync,
        reader: LogReader,
        shared: Arc<Shared>,
    ) -> Result<Self, LogError> {
        let last_seq = reader.last_checkpoint()?.map_or(0, |(seq, _)| seq);
        info!(
            public_key = %hex::encode(key.verifying_key().to_bytes()),
            last_checkpoint = last_seq,
            "signing checkpoints of the log's head"
        );
        Ok(Self {
            key,
            sync,
            reader,
            shared,
            last_seq,
        })
    }

    /// Signs the head if it moved since the last checkpoint; returns the
    /// record signed.
    pub async fn sign_head(&mut self) -> Result<Option<u64>, LogError> {
        // The status is read first: the head it reports was appended
        // before this flush began, so the flush makes it durable (a head
        // read after the flush might not be).
        let status = self.shared.status();
        if status.head_seq <= self.last_seq {
            return Ok(None);
        }
        self.sync.flush().await?;
        // The hash is read back from the log, not taken on trust.
        let Some(record) = self.reader.record(status.head_seq)? else {
            return Ok(None);
        };
        let signed = Checkpoint {
            seq: record.seq,
            head_hash: record.hash,
            signed_at: now_unix_nanos(),
        }
        .sign(&self.key);
        self.store(&signed).await?;
        self.last_seq = record.seq;
        Ok(Some(record.seq))
    }

    async fn store(&self, signed: &SignedCheckpoint) -> Result<(), LogError> {
        self.sync
            .store_checkpoint(signed.checkpoint.seq, &signed.to_bytes())?;
        self.sync.flush().await
    }

    /// Signs every `every` until `stop`, then hands itself back for the
    /// checkpoint after ingest has finished.
    pub async fn run(mut self, every: Duration, mut stop: watch::Receiver<bool>) -> Self {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticks.tick() => {
                    if let Err(error) = self.sign_head().await {
                        warn!(%error, "could not sign a checkpoint; retrying at the next tick");
                    }
                }
                () = async {
                    let _ = stop.wait_for(|stop| *stop).await;
                } => return self,
            }
        }
    }
}

/// What checking the stored checkpoints of a range found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckpointReport {
    /// Checkpoints that held.
    pub checked: u64,
    /// The record of the last that held (0 if none).
    pub last_seq: u64,
    /// The first that did not hold: where the log is wrong, and how.
    pub problem: Option<(u64, String)>,
}

/// Checks the stored checkpoints of records `from_seq..=to_seq` against
/// `key`: each must be signed by it and vouch for the hash the log has at
/// its record. A checkpoint of a record past the log's end means the log
/// lost records it once had.
pub fn check_checkpoints(
    reader: &LogReader,
    key: &ed25519_dalek::VerifyingKey,
    from_seq: u64,
    to_seq: u64,
) -> Result<CheckpointReport, LogError> {
    let mut report = CheckpointReport::default();
    for entry in reader.checkpoints(from_seq, to_seq) {
        let (seq, bytes) = entry?;
        let held_since = match report.last_seq {
            0 => "the start of the range".to_owned(),
            seq => format!("record {seq}, the last checkpoint that held"),
        };
        let signed = match SignedCheckpoint::from_bytes(&bytes)
            .and_then(|signed| signed.verify(key).map(|()| signed))
        {
            Ok(signed) => signed,
            Err(error) => {
                report.problem = Some((seq, format!("checkpoint of record {seq}: {error}")));
                return Ok(report);
            }
        };
        match reader.record(seq)? {
            None => {
                let end = reader.last_seq()?;
                report.problem = Some((
                    end + 1,
                    format!(
                        "the log ends at record {end}, but a signed checkpoint vouches for \
                         record {seq}: records after {end} were lost"
                    ),
                ));
                return Ok(report);
            }
            Some(record) if record.hash != signed.checkpoint.head_hash => {
                report.problem = Some((
                    seq,
                    format!(
                        "record {seq}'s hash is not the one signed for it: the log was \
                         rewritten after {held_since}"
                    ),
                ));
                return Ok(report);
            }
            Some(_) => {
                report.checked += 1;
                report.last_seq = seq;
            }
        }
    }
    Ok(report)
}
