//! The `lineaged` binary: settings (flags over `LINEAGE_*` variables over
//! the `--config` file), tracing (as text or JSON lines), the listeners,
//! signals; everything else is [`lineage_server::serve`].
//! `--check-config` checks the settings and prints them instead.

use anyhow::Context;
use clap::Parser;
use lineage_server::config::{ConfigError, parse_layered, render_effective};
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

    /// Check the settings (the --config file, LINEAGE_* variables and
    /// flags), print them as a config file saying where each came from,
    /// and exit: 0 when lineaged would start with them, 2 when not. The
    /// files they name (access file, keys, certificates) are not read:
    /// they may exist only where lineaged runs.
    #[arg(long)]
    check_config: bool,
}

/// The exit code of settings that cannot be used, as clap's for flags.
const EXIT_BAD_SETTINGS: i32 = 2;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Settings first: they say how to log (clap reports its own errors).
    let layered = match parse_layered::<Cli>(std::env::args_os(), |name| std::env::var_os(name)) {
        Ok(layered) => layered,
        Err(ConfigError::CommandLine(error)) => error.exit(),
        Err(error) => {
            eprintln!("error: {error}");
            std::process::exit(EXIT_BAD_SETTINGS);
        }
    };
    let Cli {
        config,
        check_config,
    } = layered.parsed;
    if check_config {
        check_and_print(&config, &layered.settings);
    }
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

/// `--check-config`: prints the settings in effect (a config file that
/// reproduces them) to stdout, or why they cannot be used to stderr, and
/// exits.
#[allow(
    clippy::print_stdout,
    reason = "printing the settings is what --check-config is for"
)]
fn check_and_print(config: &Config, settings: &[lineage_server::config::EffectiveSetting]) -> ! {
    match config.check_without_files() {
        Ok(()) => {
            match &config.config_file {
                Some(path) => println!("# lineaged settings, with {}", path.display()),
                None => println!("# lineaged settings, without a config file"),
            }
            print!("{}", render_effective(settings));
            std::process::exit(0)
        }
        Err(problem) => {
            eprintln!("error: {problem}");
            std::process::exit(EXIT_BAD_SETTINGS)
        }
    }
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
