//! Graceful shutdown of the PostgreSQL side. Once the server stops accepting clients, new
//! statements are refused (FATAL 57P01, which also closes the connection); statements
//! already running may finish within the grace period, after which they are interrupted
//! with SQLSTATE 57P01 (`admin_shutdown`); then the remaining connections are closed.

use std::sync::Arc;
use std::time::Duration;

use pgwire::error::{PgWireError, PgWireResult};
use tokio::sync::watch;

use super::fatal;
use crate::server::sqlstate;

/// How long a connection may take to send its last messages once it is being closed, and a
/// client that was told FATAL to hang up.
const LINGER: Duration = Duration::from_millis(500);

/// How long interrupted statements get to stop.
const INTERRUPT_WAIT: Duration = Duration::from_secs(5);

/// Where the server is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Phase {
    /// Clients are served.
    Serving,
    /// No new statements; running ones may finish.
    Draining,
    /// Running statements are interrupted.
    Terminating,
    /// Connections are closed.
    Closing,
}

/// The shutdown state all connections share: the phase, the running statements and the
/// open connections.
#[derive(Debug)]
pub(crate) struct Shutdown {
    phase: watch::Sender<Phase>,
    statements: Counter,
    connections: Counter,
}

/// A statement in progress, from its message until its last row is sent; it ends when
/// dropped.
pub(crate) struct Working {
    _count: Counted,
}

/// An open connection; it ends when dropped.
pub(crate) struct Open {
    _count: Counted,
}

impl Shutdown {
    pub(crate) fn new() -> Self {
        Shutdown {
            phase: watch::Sender::new(Phase::Serving),
            statements: Counter::default(),
            connections: Counter::default(),
        }
    }

    /// Counts a statement as in progress while the returned guard lives (take it before
    /// [`Shutdown::admit`], so that the drain cannot miss it).
    pub(crate) fn working(&self) -> Working {
        Working {
            _count: self.statements.add(),
        }
    }

    /// Refuses new statements once the server is shutting down.
    pub(crate) fn admit(&self) -> PgWireResult<()> {
        match *self.phase.borrow() {
            Phase::Serving => Ok(()),
            _ => Err(terminating()),
        }
    }

    /// Counts an open connection while the returned guard lives.
    pub(crate) fn open(&self) -> Open {
        Open {
            _count: self.connections.add(),
        }
    }

    /// A receiver of the phase, for futures that wait on it.
    pub(crate) fn watch(&self) -> watch::Receiver<Phase> {
        self.phase.subscribe()
    }

    /// Runs the shutdown: waits up to `grace` for running statements, interrupts those left,
    /// then closes every connection. Returns when all are closed or after a short bound.
    pub(crate) async fn drain(&self, grace: Duration) {
        self.phase.send_replace(Phase::Draining);
        if !self.statements.zero_within(grace).await {
            log::info!("interrupting the statements still running after the grace period");
        }
        self.phase.send_replace(Phase::Terminating);
        self.statements.zero_within(INTERRUPT_WAIT).await;
        self.phase.send_replace(Phase::Closing);
        self.connections.zero_within(LINGER * 2).await;
    }
}

/// Waits until the phase reaches `phase` (forever if the server never gets there).
pub(crate) async fn reached(mut phase: watch::Receiver<Phase>, wanted: Phase) {
    if phase.wait_for(|p| *p >= wanted).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Resolves when the connection is to be closed, after `LINGER` for its last messages.
pub(crate) async fn closed(phase: watch::Receiver<Phase>) {
    reached(phase, Phase::Closing).await;
    tokio::time::sleep(LINGER).await;
}

/// The error of statements refused or interrupted by the shutdown; it closes the connection.
pub(crate) fn terminating() -> PgWireError {
    fatal(
        sqlstate::ADMIN_SHUTDOWN,
        "terminating connection due to administrator command (the server is shutting down)"
            .to_string(),
    )
}

/// A count of things in progress that can be waited on to reach zero.
#[derive(Debug, Default)]
struct Counter(Arc<watch::Sender<usize>>);

/// One counted thing; the count goes down when dropped.
#[derive(Debug)]
struct Counted(Arc<watch::Sender<usize>>);

impl Counter {
    fn add(&self) -> Counted {
        self.0.send_modify(|n| *n += 1);
        Counted(Arc::clone(&self.0))
    }

    /// Whether the count reached zero within `limit`.
    async fn zero_within(&self, limit: Duration) -> bool {
        let mut count = self.0.subscribe();
        tokio::time::timeout(limit, count.wait_for(|n| *n == 0))
            .await
            .is_ok()
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}
