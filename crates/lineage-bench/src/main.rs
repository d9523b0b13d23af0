//! `lineage-bench`: one command runs every scenario at a chosen size and
//! prints a table plus JSON. Every figure comes with a baseline measured in
//! the same run, because these machines are shared and noisy: a ratio is
//! meaningful where an absolute number is not.
//!
//! - `lineage-bench workload --events N`: the workload as JSON lines (what
//!   the peer scripts under `bench/peers/` load).
//! - `lineage-bench run --events N`: the scenarios (see `scenarios.rs`).

#![allow(clippy::print_stdout)] // A command-line tool whose output is its report.

mod measure;
mod memory;
mod scenarios;
mod workload;

use std::io::Write as _;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::workload::{Workload, WorkloadSpec};

// The same allocator as lineaged, which this process hosts.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    name = "lineage-bench",
    version,
    about = "Benchmarks lineaged against same-run baselines"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Writes the workload as JSON lines of lineage.v1.Event.
    Workload {
        /// Events to generate, duplicates included.
        #[arg(long, default_value_t = 100_000)]
        events: u64,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Where to write; `-` for standard output.
        #[arg(long, default_value = "-")]
        out: String,
    },
    /// Runs the scenarios and prints the table (and JSON with --json).
    Run(scenarios::RunArgs),
    /// Builds the graph in memory (no sled, no NATS) and reports where its
    /// memory goes.
    Memory(memory::MemoryArgs),
    /// Opens and scans a log directory in this (fresh) process, writes its
    /// records to a file and prints the memory of the open and scan as
    /// JSON; `run` uses it for scenario 6.
    #[command(hide = true)]
    LogMemory {
        #[arg(long)]
        data_dir: PathBuf,
        #[arg(long)]
        records_out: PathBuf,
    },
    /// Builds the graph from the records `log-memory` wrote, in this
    /// (fresh) process, and prints its memory as JSON; for scenario 6.
    #[command(hide = true)]
    GraphMemory {
        #[arg(long)]
        input: PathBuf,
    },
    /// A restart as lineaged does it, in this (fresh) process, printed as
    /// JSON: scenario 2 runs it as a child; by hand, on the data a
    /// `run --data-dir` kept, it profiles a restart.
    #[command(hide = true)]
    Restart {
        #[arg(long)]
        data_dir: PathBuf,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Workload { events, seed, out } => write_workload(events, seed, &out),
        Command::Memory(args) => memory::run(args),
        Command::LogMemory {
            data_dir,
            records_out,
        } => memory::log_memory(&data_dir, &records_out),
        Command::GraphMemory { input } => memory::graph_memory(&input),
        Command::Restart { data_dir } => scenarios::restart_only(&data_dir),
        Command::Run(args) => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            runtime.block_on(scenarios::run(args))
        }
    }
}

fn write_workload(events: u64, seed: u64, out: &str) -> anyhow::Result<()> {
    let mut spec = WorkloadSpec::new(events);
    spec.seed = seed;
    let mut writer: Box<dyn std::io::Write> = if out == "-" {
        Box::new(std::io::BufWriter::new(std::io::stdout().lock()))
    } else {
        Box::new(std::io::BufWriter::new(std::fs::File::create(
            PathBuf::from(out),
        )?))
    };
    for event in Workload::new(spec) {
        serde_json::to_writer(&mut writer, &event)?;
        writer.write_all(b"\n")?;
    }
    writer.flush()?;
    Ok(())
}
