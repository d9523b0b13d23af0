//! Projection snapshots: the graph as of a log sequence, in a file beside the
//! log, so a restart replays only the records after it.
//!
//! A snapshot is only a cache of the log. It names the log sequence it was
//! taken at and the hash of that record; at start it is used only if the log
//! holds that very record (same hash), and anything wrong with it (missing,
//! damaged, another format, another log) means a full replay, with a warning,
//! never a failed start.
//!
//! File layout (`<data dir>/graph-snapshots/snapshot-<seq>.bin`, integers
//! big-endian): magic `LINEAGE-SNAPSHOT` | format:u8 | seq:u64 |
//! head_hash:[32] | graph_len:u64 | graph bytes (the domain's own snapshot
//! encoding, which carries its own checksum). The graph bytes are written
//! as they are encoded, and `graph_len` filled in after them. Files are
//! written to a temporary name, synced, renamed and the directory synced,
//! so a crash leaves either the old snapshot or the new one.

use std::fs;
use std::io::{self, Seek, Write};
use std::path::{Path, PathBuf};

use lineage_core::LineageGraph;
use lineage_log::LogReader;
use tracing::{info, warn};

use crate::ingest::replay_into;

const MAGIC: &[u8; 16] = b"LINEAGE-SNAPSHOT";
const FORMAT: u8 = 1;
const HEADER_LEN: usize = 16 + 1 + 8 + 32 + 8;
/// Snapshots kept: the newest, and one before it in case the newest is
/// found damaged.
const KEEP: usize = 2;

/// The snapshot files of one data directory.
#[derive(Debug, Clone)]
pub struct SnapshotStore {
    dir: PathBuf,
}

/// A snapshot read back from its file (the graph bytes are checked when
/// they are decoded).
#[derive(Debug)]
pub struct StoredSnapshot {
    pub seq: u64,
    pub head_hash: [u8; 32],
    /// The whole file; the graph bytes follow the header.
    raw: Vec<u8>,
}

impl StoredSnapshot {
    /// The domain's encoding of the graph.
    pub fn graph(&self) -> &[u8] {
        &self.raw[HEADER_LEN..]
    }
}

impl SnapshotStore {
    pub fn new(data_dir: &Path) -> Self {
        Self {
            dir: data_dir.join("graph-snapshots"),
        }
    }

    /// Snapshot files, newest (highest sequence) first.
    fn files(&self) -> io::Result<Vec<(u64, PathBuf)>> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => return Err(error),
        };
        let mut files = Vec::new();
        for entry in entries {
            let path = entry?.path();
            let seq = path
                .file_name()
                .and_then(|name| name.to_str())
                .and_then(|name| name.strip_prefix("snapshot-"))
                .and_then(|rest| rest.strip_suffix(".bin"))
                .and_then(|seq| seq.parse::<u64>().ok());
            if let Some(seq) = seq {
                files.push((seq, path));
            }
        }
        files.sort_by_key(|&(seq, _)| std::cmp::Reverse(seq));
        Ok(files)
    }

    /// Writes a snapshot of the graph at `seq` (whose log record has
    /// `head_hash`) and removes all but the newest [`KEEP`]. The graph bytes
    /// arrive in chunks (as `LineageGraph::write_snapshot` hands them over)
    /// and an empty chunk after the last; without that end mark, nothing is
    /// kept.
    pub fn write_streamed(
        &self,
        seq: u64,
        head_hash: &[u8; 32],
        chunks: std::sync::mpsc::Receiver<Vec<u8>>,
    ) -> io::Result<PathBuf> {
        self.write_with(seq, head_hash, |file| {
            let mut len = 0u64;
            loop {
                match chunks.recv() {
                    Ok(chunk) if chunk.is_empty() => return Ok(len),
                    Ok(chunk) => {
                        file.write_all(&chunk)?;
                        len += chunk.len() as u64;
                    }
                    Err(_) => {
                        return Err(io::Error::other(
                            "the snapshot's encoding stopped before its end",
                        ));
                    }
                }
            }
        })
    }

    /// Writes the header, then the graph bytes `body` writes (returning
    /// their length, which the header then gets), to a temporary file that
    /// is synced and renamed; removed instead if anything failed.
    fn write_with(
        &self,
        seq: u64,
        head_hash: &[u8; 32],
        body: impl FnOnce(&mut io::BufWriter<fs::File>) -> io::Result<u64>,
    ) -> io::Result<PathBuf> {
        fs::create_dir_all(&self.dir)?;
        let path = self.dir.join(format!("snapshot-{seq:020}.bin"));
        let temporary = self.dir.join(format!("snapshot-{seq:020}.tmp"));
        let written = (|| {
            let mut file = io::BufWriter::new(fs::File::create(&temporary)?);
            file.write_all(MAGIC)?;
            file.write_all(&[FORMAT])?;
            file.write_all(&seq.to_be_bytes())?;
            file.write_all(head_hash)?;
            // The length, filled in once the bytes are written.
            file.write_all(&0u64.to_be_bytes())?;
            let len = body(&mut file)?;
            let mut file = file.into_inner().map_err(io::IntoInnerError::into_error)?;
            file.seek(io::SeekFrom::Start((HEADER_LEN - 8) as u64))?;
            file.write_all(&len.to_be_bytes())?;
            file.sync_all()
        })();
        if let Err(error) = written {
            let _ = fs::remove_file(&temporary);
            return Err(error);
        }
        fs::rename(&temporary, &path)?;
        fs::File::open(&self.dir)?.sync_all()?;
        for (_, old) in self.files()?.into_iter().skip(KEEP) {
            if let Err(error) = fs::remove_file(&old) {
                warn!(%error, path = %old.display(), "could not remove an old snapshot");
            }
        }
        Ok(path)
    }

    /// Deletes every snapshot file.
    pub fn remove_all(&self) -> io::Result<()> {
        for (_, path) in self.files()? {
            fs::remove_file(&path)?;
        }
        Ok(())
    }

    /// Reads and checks one snapshot file.
    pub fn read(path: &Path) -> Result<StoredSnapshot, String> {
        let raw = fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
        if raw.len() < HEADER_LEN || &raw[..16] != MAGIC {
            return Err("not a lineage snapshot".into());
        }
        if raw[16] != FORMAT {
            return Err(format!("snapshot format {} is not {FORMAT}", raw[16]));
        }
        let seq = u64::from_be_bytes(raw[17..25].try_into().expect("8 bytes"));
        let head_hash: [u8; 32] = raw[25..57].try_into().expect("32 bytes");
        let graph_len = u64::from_be_bytes(raw[57..65].try_into().expect("8 bytes"));
        let graph = &raw[HEADER_LEN..];
        if graph.len() as u64 != graph_len {
            return Err(format!(
                "graph is {} bytes, the header says {graph_len}",
                graph.len()
            ));
        }
        Ok(StoredSnapshot {
            seq,
            head_hash,
            raw,
        })
    }
}

/// How the graph was rebuilt at start.
#[derive(Debug)]
pub struct Restored {
    pub graph: LineageGraph,
    /// The sequence of the snapshot used, if one was.
    pub snapshot_seq: Option<u64>,
    /// Records replayed from the log (after the snapshot, if any).
    pub replayed: u64,
}

/// The newest snapshot that reads and decodes, decoded on a thread of its
/// own from [`SnapshotDecoding::start`] on, so that a restart opens the log
/// (which rebuilds the idempotency index) and decodes the snapshot at the
/// same time: the two costs of a restart, about equal at 1 M events.
pub struct SnapshotDecoding(Decoding);

enum Decoding {
    OnItsThread(std::thread::JoinHandle<Option<Decoded>>),
    /// No thread could be started: decoded when waited for.
    Deferred(SnapshotStore),
}

impl std::fmt::Debug for SnapshotDecoding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SnapshotDecoding")
    }
}

/// A snapshot decoded but not yet checked against the log.
struct Decoded {
    path: PathBuf,
    seq: u64,
    head_hash: [u8; 32],
    graph: LineageGraph,
}

impl SnapshotDecoding {
    pub fn start(store: &SnapshotStore) -> Self {
        let on_thread = store.clone();
        let spawned = std::thread::Builder::new()
            .name("lineaged-snapshot".into())
            .spawn(move || decode_newest(&on_thread));
        Self(match spawned {
            Ok(handle) => Decoding::OnItsThread(handle),
            Err(error) => {
                warn!(%error, "no thread to decode the snapshot beside opening the log");
                Decoding::Deferred(store.clone())
            }
        })
    }

    fn wait(self) -> Option<Decoded> {
        match self.0 {
            Decoding::OnItsThread(handle) => handle.join().unwrap_or_else(|_| {
                warn!("decoding the snapshot failed; replaying the whole log");
                None
            }),
            Decoding::Deferred(store) => decode_newest(&store),
        }
    }
}

/// The newest snapshot file that reads and decodes; the others are warned
/// about.
fn decode_newest(store: &SnapshotStore) -> Option<Decoded> {
    let files = store.files().unwrap_or_else(|error| {
        warn!(%error, "cannot list snapshots; replaying the whole log");
        Vec::new()
    });
    files.into_iter().find_map(|(_, path)| {
        match SnapshotStore::read(&path).and_then(|snapshot| decode(&path, snapshot)) {
            Ok(decoded) => Some(decoded),
            Err(problem) => {
                warn!(path = %path.display(), %problem, "snapshot not used");
                None
            }
        }
    })
}

fn decode(path: &Path, snapshot: StoredSnapshot) -> Result<Decoded, String> {
    let graph = LineageGraph::decode_snapshot(snapshot.graph()).map_err(|e| e.to_string())?;
    if graph.applied_seq() != snapshot.seq {
        return Err(format!(
            "the graph is at sequence {}, the file says {}",
            graph.applied_seq(),
            snapshot.seq
        ));
    }
    Ok(Decoded {
        path: path.to_owned(),
        seq: snapshot.seq,
        head_hash: snapshot.head_hash,
        graph,
    })
}

/// Rebuilds the projection: from the newest usable snapshot plus the records
/// after it, or from the whole log.
pub fn restore(reader: &LogReader, snapshots: &SnapshotStore) -> Result<Restored, String> {
    restore_decoded(reader, snapshots, SnapshotDecoding::start(snapshots))
}

/// [`restore`], with the newest snapshot already being decoded.
pub fn restore_decoded(
    reader: &LogReader,
    snapshots: &SnapshotStore,
    decoding: SnapshotDecoding,
) -> Result<Restored, String> {
    let Some(newest) = decoding.wait() else {
        // No snapshot decodes (each was warned about).
        return restore_from(LineageGraph::new(), None, reader);
    };
    let problem = match belongs_to_log(reader, newest.seq, &newest.head_hash) {
        Ok(()) => return restore_from(newest.graph, Some(&newest.path), reader),
        Err(problem) => problem,
    };
    warn!(path = %newest.path.display(), %problem, "snapshot not used");
    // The older snapshots, one by one (newer ones did not decode).
    let files = snapshots.files().unwrap_or_default();
    for (_, path) in files
        .iter()
        .skip_while(|(_, path)| *path != newest.path)
        .skip(1)
    {
        match load(reader, path) {
            Ok(graph) => return restore_from(graph, Some(path), reader),
            Err(problem) => warn!(path = %path.display(), %problem, "snapshot not used"),
        }
    }
    restore_from(LineageGraph::new(), None, reader)
}

/// Replays the records after the graph's sequence onto it.
fn restore_from(
    mut graph: LineageGraph,
    snapshot: Option<&Path>,
    reader: &LogReader,
) -> Result<Restored, String> {
    let seq = graph.applied_seq();
    let replayed = replay_into(&mut graph, reader, seq + 1)?;
    if let Some(path) = snapshot {
        info!(path = %path.display(), snapshot_seq = seq, replayed, "restored from a snapshot");
    }
    Ok(Restored {
        graph,
        snapshot_seq: snapshot.map(|_| seq),
        replayed,
    })
}

/// Whether the log's record `seq` has the hash the snapshot names.
fn belongs_to_log(reader: &LogReader, seq: u64, head_hash: &[u8; 32]) -> Result<(), String> {
    let record = reader
        .record(seq)
        .map_err(|e| format!("cannot read log record {seq}: {e}"))?
        .ok_or_else(|| format!("the log has no record {seq}"))?;
    if record.hash != *head_hash {
        return Err(format!(
            "log record {seq} has another hash: the snapshot is of another log"
        ));
    }
    Ok(())
}

/// A snapshot's graph, if it belongs to this log (checked before decoding).
fn load(reader: &LogReader, path: &Path) -> Result<LineageGraph, String> {
    let snapshot = SnapshotStore::read(path)?;
    belongs_to_log(reader, snapshot.seq, &snapshot.head_hash)?;
    decode(path, snapshot).map(|decoded| decoded.graph)
}
