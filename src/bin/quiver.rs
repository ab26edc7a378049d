//! The `quiver` command: an interactive SQL shell, batch runs with `-c`, `-f` or stdin, and
//! `quiver serve` (PostgreSQL wire protocol server, with the "server" feature).

use std::io::{IsTerminal, Read};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use quiver::Engine;
use quiver::datafusion::error::DataFusionError;
use quiver::shell::print::OutputMode;
use quiver::shell::{Flow, Settings, Shell};

/// quiver: SQL on CSV, Parquet, JSON and scientific array files.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Run SQL (several statements separated by ';'), then exit. May be repeated.
    #[arg(short = 'c', long = "command", value_name = "SQL")]
    commands: Vec<String>,
    /// Run the statements in FILE, then exit. May be repeated.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    files: Vec<String>,
    /// Output format: table, csv, json, jsonl, markdown or line (batch default: csv).
    #[arg(long, value_name = "FORMAT")]
    format: Option<String>,
    /// Worker threads and query partitions (default: all cores).
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// Memory limit for queries, such as 4GB or 512MB.
    #[arg(long, value_name = "SIZE")]
    memory_limit: Option<String>,
    /// Print each statement before its result.
    #[arg(long)]
    echo: bool,
    /// Print the GPU adapter, its limits and capabilities, then exit (status 1 without one).
    #[arg(long)]
    gpu_info: bool,
    /// Measure from how many values a dense aggregation is faster on the GPU (sizes up to
    /// MAX_VALUES, default 16777216), print the times and the `quiver.gpu_min_values` to
    /// set, then exit.
    #[cfg(feature = "gpu")]
    #[arg(long, value_name = "MAX_VALUES", num_args = 0..=1, default_missing_value = "16777216")]
    gpu_calibrate: Option<u64>,
    /// Run queries on the Ballista cluster whose scheduler is at ADDR (host:port).
    #[cfg(feature = "cluster")]
    #[arg(long, value_name = "ADDR")]
    cluster: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the engine to PostgreSQL clients (psql, JDBC, ODBC, tokio-postgres).
    #[cfg(feature = "server")]
    Serve(Box<serve::ServeArgs>),
    /// Run a process of a Ballista cluster: the scheduler or an executor.
    #[cfg(feature = "cluster")]
    #[command(subcommand)]
    Cluster(cluster::ClusterCommand),
}

fn main() -> ExitCode {
    logger::install();
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let message = match e.downcast_ref::<DataFusionError>() {
                Some(error) => quiver::error::user_message(error),
                None => match e.chain().nth(1) {
                    Some(cause) => format!("{e}: {cause}"),
                    None => e.to_string(),
                },
            };
            eprintln!("Error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    if cli.gpu_info {
        let report = quiver::shell::gpu_report().map_err(anyhow::Error::msg)?;
        print!("{report}");
        return Ok(());
    }
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    runtime.enable_all();
    if let Some(n) = cli.threads {
        anyhow::ensure!(n > 0, "--threads must be at least 1");
        runtime.worker_threads(n);
    }
    runtime
        .build()
        .context("starting the runtime")?
        .block_on(run_async(cli))
}

async fn run_async(cli: Cli) -> Result<()> {
    #[cfg(feature = "gpu")]
    if let Some(max_values) = cli.gpu_calibrate {
        let progress = |step: &str| eprintln!("{step} ...");
        print!("{}", quiver::gpu::calibrate(max_values, progress).await?);
        return Ok(());
    }
    let mut builder = Engine::builder();
    if let Some(n) = cli.threads {
        builder = builder.target_partitions(n);
    }
    if let Some(limit) = &cli.memory_limit {
        builder = builder.memory_limit(quiver::error::parse_memory_size("--memory-limit", limit)?);
    }
    match cli.command {
        #[cfg(feature = "server")]
        Some(Command::Serve(args)) => {
            let settings = serve::Settings::resolve(*args)?;
            let engine = settings.engine(builder)?;
            return serve::run(engine, settings).await;
        }
        #[cfg(feature = "cluster")]
        Some(Command::Cluster(command)) => return cluster::run(command).await,
        None => {}
    }
    #[cfg(feature = "cluster")]
    if let Some(scheduler) = &cli.cluster {
        builder = builder.cluster(scheduler);
    }
    let engine = builder.build()?;
    let batch =
        !cli.commands.is_empty() || !cli.files.is_empty() || !std::io::stdin().is_terminal();
    let mut settings = Settings::new(!batch);
    settings.echo = cli.echo;
    if let Some(format) = &cli.format {
        settings.printer.mode = OutputMode::parse("--format", format)?;
    }
    let mut shell = Shell::new(engine, settings);
    if !batch {
        shell.run_interactive().await?;
        return Ok(());
    }
    for sql in &cli.commands {
        if shell.run_script(sql).await? == Flow::Quit {
            return Ok(());
        }
    }
    for file in &cli.files {
        let text =
            std::fs::read_to_string(file).with_context(|| format!("cannot read '{file}'"))?;
        if shell.run_script(&text).await? == Flow::Quit {
            return Ok(());
        }
    }
    if cli.commands.is_empty() && cli.files.is_empty() {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading standard input")?;
        shell.run_script(&text).await?;
    }
    Ok(())
}

#[cfg(feature = "cluster")]
#[path = "quiver/cluster.rs"]
mod cluster;
#[path = "quiver/logger.rs"]
mod logger;
#[cfg(feature = "server")]
#[path = "quiver/serve.rs"]
mod serve;
