//! `quiver serve`: options (command line over `--config` file), start-up scripts, and
//! running until Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use quiver::error::parse_memory_size;
use quiver::server::{Credentials, Server, ServerConfig, ServerOptions, TlsIdentity};
use quiver::{Engine, EngineBuilder, FileAccess};

/// Options of `quiver serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Settings from a TOML file (addresses, users, limits, TLS); options given here win.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address for PostgreSQL clients (default 127.0.0.1:5433, loopback).
    #[arg(long, value_name = "ADDR")]
    pg: Option<SocketAddr>,
    /// Also serve Arrow Flight SQL clients at ADDR (e.g. 127.0.0.1:50051).
    #[arg(long, value_name = "ADDR")]
    flight: Option<SocketAddr>,
    /// Run the statements in FILE before accepting clients (e.g. CREATE EXTERNAL TABLE).
    #[arg(long, value_name = "FILE")]
    init: Vec<PathBuf>,
    /// A user clients may log in as; needs --password-env.
    #[arg(long, value_name = "NAME", requires = "password_env")]
    user: Option<String>,
    /// The environment variable that holds the password of --user.
    #[arg(long, value_name = "VAR", requires = "user")]
    password_env: Option<String>,
    /// Refuse statements that create, change or drop tables, or write files.
    #[arg(long)]
    read_only: bool,
    /// Most clients connected at once (default 64).
    #[arg(long, value_name = "N")]
    max_connections: Option<usize>,
    /// Longest a statement may run, rows included: 30s, 500ms, 5min (0 = no limit).
    #[arg(long, value_name = "DURATION")]
    statement_timeout: Option<String>,
    /// Close clients idle this long: 30min (0 = never; Flight SQL sessions: 1h).
    #[arg(long, value_name = "DURATION")]
    idle_timeout: Option<String>,
    /// Close clients that have not logged in within this long (default 30s).
    #[arg(long, value_name = "DURATION")]
    auth_timeout: Option<String>,
    /// On SIGTERM or Ctrl-C, how long running statements may go on before they are
    /// interrupted (default 10s; 0 = interrupt at once).
    #[arg(long, value_name = "DURATION")]
    shutdown_grace: Option<String>,
    /// The most memory one query may hold: 512MB, 2GB (within --memory-limit, which all
    /// queries share); a query that needs more fails with SQLSTATE 53200.
    #[arg(long, value_name = "BYTES")]
    query_memory_limit: Option<String>,
    /// Serve both protocols over TLS with this certificate chain (PEM); needs --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// The only directory clients may read files from; relative paths in SQL resolve
    /// against it (default: the current directory).
    #[arg(long, value_name = "DIR")]
    data_root: Option<PathBuf>,
    /// The only directory COPY ... TO may write into (default: no file writes).
    #[arg(long, value_name = "DIR")]
    output_dir: Option<PathBuf>,
}

/// The command line merged over the config file.
pub struct Settings {
    init: Vec<PathBuf>,
    data_root: PathBuf,
    output_dir: Option<PathBuf>,
    query_memory_limit: Option<usize>,
    options: ServerOptions,
}

impl Settings {
    pub fn resolve(args: ServeArgs) -> Result<Settings> {
        let config = match &args.config {
            Some(path) => ServerConfig::load(path)?,
            None => ServerConfig::default(),
        };
        let mut users = config.credentials()?;
        if let (Some(user), Some(var)) = (&args.user, &args.password_env) {
            let password = std::env::var(var).with_context(|| {
                format!("environment variable {var} (named by --password-env) is not set")
            })?;
            if password.is_empty() {
                bail!("environment variable {var} (named by --password-env) is empty");
            }
            users.push(Credentials {
                user: user.clone(),
                password,
            });
        }
        let statement_timeout = args.statement_timeout.or(config.statement_timeout);
        let idle_timeout = args.idle_timeout.or(config.idle_timeout);
        let auth_timeout = args.auth_timeout.or(config.auth_timeout);
        let shutdown_grace = args.shutdown_grace.or(config.shutdown_grace);
        let tls = match (
            args.tls_cert.or(config.tls_cert),
            args.tls_key.or(config.tls_key),
        ) {
            (Some(cert), Some(key)) => Some(TlsIdentity::from_files(&cert, &key)?),
            (None, None) => None,
            _ => bail!("TLS needs both a certificate and a key (tls_cert and tls_key)"),
        };
        let defaults = ServerOptions::default();
        let mut init = config.init;
        init.extend(args.init);
        Ok(Settings {
            init,
            data_root: args
                .data_root
                .or(config.data_root)
                .unwrap_or_else(|| PathBuf::from(".")),
            output_dir: args.output_dir.or(config.output_dir),
            query_memory_limit: args
                .query_memory_limit
                .or(config.query_memory_limit)
                .map(|text| parse_memory_size("--query-memory-limit", &text))
                .transpose()?,
            options: ServerOptions {
                pg_addr: args.pg.or(config.pg).unwrap_or(defaults.pg_addr),
                flight_addr: args.flight.or(config.flight),
                users,
                read_only: args.read_only || config.read_only.unwrap_or(false),
                max_connections: args
                    .max_connections
                    .or(config.max_connections)
                    .unwrap_or(defaults.max_connections),
                statement_timeout: parse_duration("statement timeout", statement_timeout)?,
                idle_timeout: parse_duration("idle timeout", idle_timeout)?,
                auth_timeout: match auth_timeout {
                    Some(text) => parse_duration("auth timeout", Some(text.clone()))?
                        .with_context(|| {
                            format!("invalid auth timeout {text:?}: must be above 0")
                        })?,
                    None => defaults.auth_timeout,
                },
                shutdown_grace: match shutdown_grace {
                    Some(text) => parse_duration("shutdown grace", Some(text))?.unwrap_or_default(),
                    None => defaults.shutdown_grace,
                },
                tls,
            },
        })
    }

    /// The served engine: the per-query memory limit, and file access confined to the data
    /// root and the output directory.
    pub fn engine(&self, builder: EngineBuilder) -> Result<Engine> {
        let mut builder = builder.file_access(self.file_access()?);
        if let Some(bytes) = self.query_memory_limit {
            builder = builder.query_memory_limit(bytes);
        }
        Ok(builder.build()?)
    }

    /// The file access of the served engine: reads under the data root (relative paths in
    /// SQL resolve against it), writes only under the output directory.
    fn file_access(&self) -> Result<FileAccess> {
        let root = &self.data_root;
        let mut access = FileAccess::confined(root)
            .with_context(|| format!("cannot use data root '{}'", root.display()))?;
        if let Some(output) = &self.output_dir {
            access = access
                .with_output_dir(output)
                .with_context(|| format!("cannot use output directory '{}'", output.display()))?;
        }
        Ok(access)
    }
}

pub async fn run(engine: Engine, settings: Settings) -> Result<()> {
    for file in &settings.init {
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
    let options = settings.options;
    let auth = if options.users.is_empty() {
        "none (use --user and --password-env, or users in --config, to require a password)"
    } else {
        "password"
    };
    let tls = if options.tls.is_some() { ", TLS" } else { "" };
    let read_only = if options.read_only { ", read-only" } else { "" };
    let server = Server::start(engine, options).await?;
    eprintln!(
        "quiver: serving PostgreSQL clients on {} (authentication: {auth}{tls}{read_only})",
        server.pg_addr(),
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
fn parse_duration(what: &str, text: Option<String>) -> Result<Option<Duration>> {
    let Some(text) = text else {
        return Ok(None);
    };
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let number: f64 = number
        .parse()
        .with_context(|| format!("invalid {what} {text:?}: expected a duration such as 30s"))?;
    let seconds = match unit.trim() {
        "" | "s" => number,
        "ms" => number / 1000.0,
        "min" | "m" => number * 60.0,
        "h" => number * 3600.0,
        other => bail!("invalid {what} {text:?}: unknown unit {other:?} (use ms, s, min or h)"),
    };
    if !seconds.is_finite() || seconds < 0.0 {
        bail!("invalid {what} {text:?}: must not be negative");
    }
    Ok((seconds > 0.0).then(|| Duration::from_secs_f64(seconds)))
}
