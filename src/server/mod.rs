//! `quiver serve`: one engine served to many clients over the PostgreSQL wire protocol and
//! Arrow Flight SQL.
//!
//! This module holds protocol adapters only: every statement a client sends is parsed,
//! planned and run by [`Engine`], exactly as in the shell, so `COPY` stays atomic and errors
//! read the same. Each connection gets its own session ([`Engine::new_session`]): tables are
//! shared, settings are not.
//!
//! Security defaults: loopback only unless told otherwise, password authentication when
//! credentials are given, optional TLS, a connection limit, a statement timeout that covers
//! streaming the rows too, and an optional read-only mode.

mod config;
mod flight;
mod pgwire;
pub mod sqlstate;
mod statement;
mod tls;

pub use config::{ServerConfig, UserConfig};
pub use tls::TlsIdentity;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use datafusion::error::{DataFusionError, Result};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::Engine;

/// A user name and password that clients must present.
#[derive(Clone)]
pub struct Credentials {
    /// The user name.
    pub user: String,
    /// The password, kept in memory only; never logged or shown.
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// How the server listens and what it allows.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Where to accept PostgreSQL clients (port 0 picks a free port).
    pub pg_addr: SocketAddr,
    /// Where to accept Arrow Flight SQL clients, if at all (port 0 picks a free port).
    pub flight_addr: Option<SocketAddr>,
    /// The users clients may log in as (SCRAM-SHA-256 on the PostgreSQL side, basic
    /// authentication in the handshake on the Flight SQL side); none lets anyone in.
    pub users: Vec<Credentials>,
    /// Refuse statements that change tables or files (DDL, DML, `COPY`).
    pub read_only: bool,
    /// Most clients connected at once (per protocol; Flight SQL sessions count as clients);
    /// more are refused with SQLSTATE 53300.
    pub max_connections: usize,
    /// Longest a statement may run, streaming its rows included (SQLSTATE 57014). A client's
    /// `SET statement_timeout` may shorten it but not lengthen it.
    pub statement_timeout: Option<Duration>,
    /// Close PostgreSQL connections that run no statement for this long, and Flight SQL
    /// sessions unused for this long (without it: PostgreSQL connections stay open, Flight
    /// SQL sessions close after an hour).
    pub idle_timeout: Option<Duration>,
    /// Close PostgreSQL connections that have not logged in within this long (the TLS
    /// handshake included), so that silent clients do not hold a connection slot.
    pub auth_timeout: Duration,
    /// On shutdown, how long running statements may go on before they are interrupted
    /// (SQLSTATE 57P01; Flight SQL calls still running are dropped).
    pub shutdown_grace: Duration,
    /// Serve both protocols over TLS with this certificate; clients without TLS are refused.
    pub tls: Option<TlsIdentity>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            pg_addr: SocketAddr::from(([127, 0, 0, 1], 5433)),
            flight_addr: None,
            users: Vec::new(),
            read_only: false,
            max_connections: 64,
            statement_timeout: None,
            idle_timeout: None,
            auth_timeout: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(10),
            tls: None,
        }
    }
}

/// A running server. Dropping it does not stop it; call [`Server::shutdown`].
#[derive(Debug)]
pub struct Server {
    pg_addr: SocketAddr,
    flight_addr: Option<SocketAddr>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    pg_connections: Arc<pgwire::Shutdown>,
    shutdown_grace: Duration,
}

impl Server {
    /// Binds the listeners and starts accepting clients; when this returns the server is
    /// ready, so clients can connect at once.
    pub async fn start(engine: Engine, options: ServerOptions) -> Result<Server> {
        let listener = TcpListener::bind(options.pg_addr).await.map_err(|e| {
            DataFusionError::Execution(format!(
                "cannot listen on {} for PostgreSQL clients: {e}",
                options.pg_addr
            ))
        })?;
        let pg_addr = listener.local_addr()?;
        let flight = match options.flight_addr {
            Some(addr) => Some(TcpListener::bind(addr).await.map_err(|e| {
                DataFusionError::Execution(format!(
                    "cannot listen on {addr} for Flight SQL clients: {e}"
                ))
            })?),
            None => None,
        };
        let (stop, stopped) = watch::channel(false);
        let mut tasks = Vec::new();
        let mut flight_addr = None;
        if let Some(flight) = flight {
            flight_addr = Some(flight.local_addr()?);
            let serve = flight::server(flight, engine.clone(), &options, stopped.clone())?;
            tasks.push(tokio::spawn(serve));
        }
        let shared = Arc::new(pgwire::Shared::new(engine, &options)?);
        let pg_connections = shared.shutdown();
        tasks.push(tokio::spawn(pgwire::accept_loop(listener, shared, stopped)));
        Ok(Server {
            pg_addr,
            flight_addr,
            stop,
            tasks,
            pg_connections,
            shutdown_grace: options.shutdown_grace,
        })
    }

    /// The address PostgreSQL clients connect to (with the real port when 0 was asked for).
    pub fn pg_addr(&self) -> SocketAddr {
        self.pg_addr
    }

    /// The address Flight SQL clients connect to, when the server has one.
    pub fn flight_addr(&self) -> Option<SocketAddr> {
        self.flight_addr
    }

    /// Shuts the server down gracefully: stops accepting clients at once, refuses new
    /// statements, lets running ones go on for the shutdown grace period, interrupts those
    /// left (PostgreSQL clients get SQLSTATE 57P01; Flight SQL calls are dropped), and
    /// closes the connections. Returns within the grace period and a few seconds.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let grace = self.shutdown_grace;
        let flight = async {
            for mut task in self.tasks {
                if tokio::time::timeout(grace, &mut task).await.is_err() {
                    task.abort();
                }
            }
        };
        tokio::join!(self.pg_connections.drain(grace), flight);
    }
}
