//! `lineage watch`: the `WatchImpact` stream, one line per entity newly
//! downstream of the root, written and flushed as it arrives.
//!
//! It ends on Ctrl-C, after `--count` entities, when the reader of its
//! output goes away (`| head`), or when the stream ends or fails; each end
//! but the last two exits 0. Whatever ends it, the last sequence received
//! is what `--from-seq` resumes from, and it is printed when a resume makes
//! sense.

use std::io::Write as _;
use std::process::ExitCode;

use lineage_proto::v1;

use crate::client::{self, EXIT_FAILURE};
use crate::{Format, GlobalArgs, WatchArgs, entity, render};

pub async fn watch(global: &GlobalArgs, args: &WatchArgs) -> anyhow::Result<ExitCode> {
    let workspace = entity::workspace(global.workspace.as_deref())?;
    let root = entity::to_wire(&entity::parse_entity(&workspace, &args.entity)?);
    let mut grpc = global.connect().await?;
    let mut stream = grpc
        .watch_impact(v1::WatchImpactRequest {
            root: Some(root.clone()),
            max_depth: args.depth.unwrap_or(0),
            from_seq: args.from_seq,
        })
        .await?
        .into_inner();
    eprintln!(
        "watching what comes to depend on {} (Ctrl-C to stop)",
        entity::display_ref(&root)
    );
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    let mut last_seq = args.from_seq;
    let mut received = 0u64;
    loop {
        if args.count.is_some_and(|count| received >= count) {
            return Ok(ExitCode::SUCCESS);
        }
        let next = tokio::select! {
            next = stream.message() => next,
            signal = &mut interrupted => {
                signal?;
                eprintln!(
                    "watch: stopped after {received} entities; resume with --from-seq {last_seq}"
                );
                return Ok(ExitCode::SUCCESS);
            }
        };
        match next {
            Ok(Some(event)) => {
                received += 1;
                last_seq = last_seq.max(event.seq);
                let line = match global.format {
                    Format::Json => format!("{}\n", serde_json::to_string(&event)?),
                    _ => render::text::impact_event(&event),
                };
                if !write_line(&line)? {
                    return Ok(ExitCode::SUCCESS);
                }
            }
            Ok(None) => {
                eprintln!(
                    "watch: the service ended the stream after {received} entities; resume with --from-seq {last_seq}"
                );
                return Ok(ExitCode::from(EXIT_FAILURE));
            }
            Err(status) => {
                let resumable = status.code() == tonic::Code::DeadlineExceeded;
                let error = anyhow::Error::new(status);
                eprintln!("error: {}", client::describe(&error));
                if resumable {
                    eprintln!(
                        "the stream was dropped for reading too slowly; resume with --from-seq {last_seq}"
                    );
                }
                return Ok(ExitCode::from(client::exit_code(&error)));
            }
        }
    }
}

/// Writes and flushes one line (a watch is read as it happens); `false`
/// when the reader has gone away, which ends the watch.
fn write_line(line: &str) -> std::io::Result<bool> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(line.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => Ok(true),
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        Err(error) => Err(error),
    }
}
