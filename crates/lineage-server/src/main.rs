//! The `lineaged` binary: flags, tracing (as text or JSON lines), the
//! listeners, signals; everything else is [`lineage_server::serve`].

use anyhow::Context;
use clap::Parser;
use lineage_server::{Config, Listeners, LogFormat};
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

// The graph is millions of small allocations; glibc's allocator fragments
// and slows as the heap grows (see BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The lineage graph service: NATS JetStream in, gRPC queries out.
#[derive(Debug, Parser)]
#[command(name = "lineaged", version)]
struct Cli {
    #[command(flatten)]
    config: Config,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Flags first: they say how to log (clap reports its own errors).
    let config = Cli::parse().config;
    init_tracing(config.log_format);
    let grpc = TcpListener::bind(config.grpc_addr)
        .await
        .with_context(|| format!("binding gRPC address {}", config.grpc_addr))?;
    let http = match config.http_addr {
        Some(addr) => Some(
            TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding HTTP address {addr}"))?,
        ),
        None => None,
    };
    lineage_server::serve(config, Listeners { grpc, http }, shutdown_signal()).await?;
    Ok(())
}

/// Log lines go to stderr, filtered by `LINEAGE_LOG` (`info` by default),
/// as text or as one JSON object per line.
fn init_tracing(format: LogFormat) {
    let filter =
        || EnvFilter::try_from_env("LINEAGE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    match format {
        LogFormat::Text => tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_env_filter(filter())
            .init(),
        // Collectors read fields at the top level of each object; the span
        // an event happened in (an RPC, an ingest batch) comes with it.
        LogFormat::Json => tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(std::io::stderr)
            .with_env_filter(filter())
            .init(),
    }
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = match signal(SignalKind::terminate()) {
        Ok(terminate) => terminate,
        Err(error) => {
            tracing::error!(%error, "cannot listen for SIGTERM; only Ctrl-C stops the service");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    tracing::info!("signal received");
}
