//! The `lineaged` binary: flags, tracing, signals; everything else is
//! [`lineage_server::run`].

use anyhow::Context;
use clap::Parser;
use lineage_server::Config;
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
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            EnvFilter::try_from_env("LINEAGE_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let config = Cli::parse().config;
    let listener = tokio::net::TcpListener::bind(config.grpc_addr)
        .await
        .with_context(|| format!("binding gRPC address {}", config.grpc_addr))?;
    lineage_server::run(config, listener, shutdown_signal()).await?;
    Ok(())
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
