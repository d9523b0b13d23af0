//! `lineage watch`: the `WatchImpact` stream, one line per entity newly
//! downstream of the root, written and flushed as it arrives.
//!
//! It ends on Ctrl-C, after `--count` entities, when the reader of its
//! output goes away (`| head`), or when the stream ends or fails; each end
//! but the last two exits 0. Each but the reader going away says on
//! standard error which `--from-seq` resumes it: the highest sequence
//! received minus one, since one event can bring several entities and a
//! stop may fall between them. Resuming there loses nothing and may repeat
//! a few lines of that last sequence.

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
    // Where a resumed watch loses nothing: see the module docs.
    let mut resume_after = args.from_seq;
    let mut received = 0u64;
    loop {
        if args.count.is_some_and(|count| received >= count) {
            eprintln!(
                "watch: stopped after {}; resume with --from-seq {resume_after}",
                entities(received)
            );
            return Ok(ExitCode::SUCCESS);
        }
        let next = tokio::select! {
            next = stream.message() => next,
            signal = &mut interrupted => {
                signal?;
                eprintln!(
                    "watch: interrupted after {}; resume with --from-seq {resume_after}",
                    entities(received)
                );
                return Ok(ExitCode::SUCCESS);
            }
        };
        match next {
            Ok(Some(event)) => {
                received += 1;
                resume_after = resume_after.max(event.seq.saturating_sub(1));
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
                    "watch: the service ended the stream after {}; resume with --from-seq {resume_after}",
                    entities(received)
                );
                return Ok(ExitCode::from(EXIT_FAILURE));
            }
            Err(status) => {
                let error = anyhow::Error::new(status);
                eprintln!("error: {}", client::describe(&error));
                eprintln!(
                    "watch: failed after {}; resume with --from-seq {resume_after}",
                    entities(received)
                );
                return Ok(ExitCode::from(client::exit_code(&error)));
            }
        }
    }
}

/// `1 entity`, `2 entities`.
fn entities(n: u64) -> String {
    if n == 1 {
        "1 entity".to_owned()
    } else {
        format!("{n} entities")
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
