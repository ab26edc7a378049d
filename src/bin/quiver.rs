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
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the engine to PostgreSQL clients (psql, JDBC, ODBC, tokio-postgres).
    #[cfg(feature = "server")]
    Serve(serve::ServeArgs),
}

fn main() -> ExitCode {
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
    let mut builder = Engine::builder();
    if let Some(n) = cli.threads {
        builder = builder.target_partitions(n);
    }
    if let Some(limit) = &cli.memory_limit {
        builder = builder.memory_limit(quiver::error::parse_memory_size("--memory-limit", limit)?);
    }
    #[cfg(feature = "server")]
    if let Some(Command::Serve(args)) = &cli.command {
        builder = builder.file_access(serve::confine(args)?);
    }
    let engine = builder.build()?;
    match cli.command {
        #[cfg(feature = "server")]
        Some(Command::Serve(args)) => return serve::run(engine, args).await,
        None => {}
    }
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

#[cfg(feature = "server")]
mod serve {
    //! `quiver serve`: options, start-up script, and running until Ctrl-C or SIGTERM.

    use std::net::SocketAddr;
    use std::path::PathBuf;
    use std::time::Duration;

    use anyhow::{Context, Result, bail};
    use quiver::server::{Credentials, Server, ServerOptions, TlsIdentity};
    use quiver::{Engine, FileAccess};

    /// Options of `quiver serve`.
    #[derive(Debug, clap::Args)]
    pub struct ServeArgs {
        /// Address for PostgreSQL clients (loopback by default).
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:5433")]
        pg: SocketAddr,
        /// Also serve Arrow Flight SQL clients at ADDR (e.g. 127.0.0.1:50051).
        #[arg(long, value_name = "ADDR")]
        flight: Option<SocketAddr>,
        /// Run the statements in FILE before accepting clients (e.g. CREATE EXTERNAL TABLE).
        #[arg(long, value_name = "FILE")]
        init: Vec<PathBuf>,
        /// The user clients log in as (SCRAM-SHA-256); needs --password-env.
        #[arg(long, value_name = "NAME", requires = "password_env")]
        user: Option<String>,
        /// The environment variable that holds the password of --user.
        #[arg(long, value_name = "VAR", requires = "user")]
        password_env: Option<String>,
        /// Refuse statements that create, change or drop tables, or write files.
        #[arg(long)]
        read_only: bool,
        /// Most clients connected at once.
        #[arg(long, value_name = "N", default_value_t = 64)]
        max_connections: usize,
        /// Longest a statement may run, rows included: 30s, 500ms, 5min (0 = no limit).
        #[arg(long, value_name = "DURATION")]
        statement_timeout: Option<String>,
        /// The only directory clients may read files from; relative paths in SQL resolve
        /// against it (default: the current directory).
        #[arg(long, value_name = "DIR")]
        data_root: Option<PathBuf>,
        /// Serve both protocols over TLS with this certificate chain (PEM); needs --tls-key.
        #[arg(long, value_name = "FILE", requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// The private key (PEM) of --tls-cert.
        #[arg(long, value_name = "FILE", requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// The only directory COPY ... TO may write into (default: no file writes).
        #[arg(long, value_name = "DIR")]
        output_dir: Option<PathBuf>,
    }

    /// The file access of the served engine: reads under the data root (relative paths in
    /// SQL resolve against it), writes only under the output directory.
    pub fn confine(args: &ServeArgs) -> Result<FileAccess> {
        let root = args.data_root.clone().unwrap_or_else(|| PathBuf::from("."));
        let mut access = FileAccess::confined(&root)
            .with_context(|| format!("cannot use data root '{}'", root.display()))?;
        if let Some(output) = &args.output_dir {
            access = access
                .with_output_dir(output)
                .with_context(|| format!("cannot use output directory '{}'", output.display()))?;
        }
        Ok(access)
    }

    pub async fn run(engine: Engine, args: ServeArgs) -> Result<()> {
        for file in &args.init {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("cannot read '{}'", file.display()))?;
            for statement in engine.parse(&text)? {
                engine
                    .execute(statement)
                    .await?
                    .collect()
                    .await
                    .with_context(|| format!("running '{}'", file.display()))?;
            }
        }
        let credentials = match (&args.user, &args.password_env) {
            (Some(user), Some(var)) => {
                let password = std::env::var(var).with_context(|| {
                    format!("environment variable {var} (named by --password-env) is not set")
                })?;
                if password.is_empty() {
                    bail!("environment variable {var} (named by --password-env) is empty");
                }
                Some(Credentials {
                    user: user.clone(),
                    password,
                })
            }
            _ => None,
        };
        let statement_timeout = match &args.statement_timeout {
            Some(text) => parse_duration(text)?,
            None => None,
        };
        let tls = match (&args.tls_cert, &args.tls_key) {
            (Some(cert), Some(key)) => Some(TlsIdentity::from_files(cert, key)?),
            _ => None,
        };
        let options = ServerOptions {
            pg_addr: args.pg,
            flight_addr: args.flight,
            credentials,
            read_only: args.read_only,
            max_connections: args.max_connections,
            statement_timeout,
            tls,
        };
        let auth = if options.credentials.is_some() {
            "password"
        } else {
            "none (use --user and --password-env to require a password)"
        };
        let server = Server::start(engine, options).await?;
        eprintln!(
            "quiver: serving PostgreSQL clients on {} (authentication: {auth}{}{})",
            server.pg_addr(),
            if args.tls_cert.is_some() { ", TLS" } else { "" },
            if args.read_only { ", read-only" } else { "" }
        );
        if let Some(addr) = server.flight_addr() {
            eprintln!("quiver: serving Arrow Flight SQL clients on {addr}");
        }
        shutdown_signal().await;
        eprintln!("quiver: shutting down");
        server.shutdown().await;
        Ok(())
    }

    async fn shutdown_signal() {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            if let Ok(mut term) = signal(SignalKind::terminate()) {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
                return;
            }
        }
        let _ = tokio::signal::ctrl_c().await;
    }

    /// Parses `30s`, `500ms`, `5min`, `2h` or plain seconds; `0` means no limit.
    fn parse_duration(text: &str) -> Result<Option<Duration>> {
        let trimmed = text.trim();
        let split = trimmed
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(trimmed.len());
        let (number, unit) = trimmed.split_at(split);
        let number: f64 = number.parse().with_context(|| {
            format!("invalid --statement-timeout {text:?}: expected a duration such as 30s")
        })?;
        let seconds = match unit.trim() {
            "" | "s" => number,
            "ms" => number / 1000.0,
            "min" | "m" => number * 60.0,
            "h" => number * 3600.0,
            other => bail!(
                "invalid --statement-timeout {text:?}: unknown unit {other:?} (use ms, s, min or h)"
            ),
        };
        if !seconds.is_finite() || seconds < 0.0 {
            bail!("invalid --statement-timeout {text:?}: must not be negative");
        }
        Ok((seconds > 0.0).then(|| Duration::from_secs_f64(seconds)))
    }
}
