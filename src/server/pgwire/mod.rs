//! The PostgreSQL wire protocol (pgwire) front: the accept loop, the connection limit,
//! authentication, and one set of handlers per connection, each with its own session.
//!
//! datafusion-postgres provides the pieces used here: the `pg_catalog` schema that `psql`'s
//! `\d` commands query, its SQL rewrites for PostgreSQL clients, and the `SET`/`SHOW` and
//! transaction hooks. Statements themselves are run by quiver's engine (see [`query`]).

mod connection;
mod idle;
mod json;
mod query;
mod shutdown;

use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use datafusion::error::{DataFusionError, Result};
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::context::EmptyContextProvider;
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::setup_pg_catalog;
use datafusion_postgres::datafusion_pg_catalog::sql::PostgresCompatibilityParser;
use datafusion_postgres::pgwire;
use futures::Sink;
use pgwire::api::auth::noop::NoopStartupHandler;
use pgwire::api::auth::sasl::SASLAuthStartupHandler;
use pgwire::api::auth::sasl::scram::{ScramAuth, gen_salted_password, random_nonce};
use pgwire::api::auth::{
    AuthSource, DefaultServerParameterProvider, LoginInfo, Password, StartupHandler,
};
use pgwire::api::cancel::DefaultCancelHandler;
use pgwire::api::{
    ClientInfo, ConnectionManager, PgWireConnectionState, PgWireServerHandlers,
    PidSecretKeyGenerator, RandomPidSecretKeyGenerator,
};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use pgwire::tokio::TlsAcceptor;
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

use super::{Credentials, ServerOptions, TlsIdentity, sqlstate};
use crate::Engine;
use idle::Activity;
pub(crate) use shutdown::Shutdown;

/// What all connections share: the engine whose tables they see, the limits, the secrets.
pub(crate) struct Shared {
    engine: Engine,
    users: Arc<Vec<Credentials>>,
    read_only: bool,
    max_connections: usize,
    statement_timeout: Option<Duration>,
    idle_timeout: Option<Duration>,
    auth_timeout: Duration,
    shutdown: Arc<Shutdown>,
    permits: Arc<Semaphore>,
    cancels: Arc<ConnectionManager>,
    pids: Arc<dyn PidSecretKeyGenerator>,
    compat: PostgresCompatibilityParser,
    tls: Option<TlsAcceptor>,
}

impl Shared {
    pub(crate) fn new(engine: Engine, options: &ServerOptions) -> Result<Self> {
        // pg_catalog (for psql's \d, JDBC and ODBC metadata) lives in the shared catalog, so
        // every session sees it and it lists every session's tables.
        let context = engine.context();
        let catalog = context
            .state()
            .config()
            .options()
            .catalog
            .default_catalog
            .clone();
        if context
            .catalog(&catalog)
            .and_then(|c| c.schema("pg_catalog"))
            .is_none()
        {
            setup_pg_catalog(context, &catalog, EmptyContextProvider).map_err(|e| *e)?;
        }
        if options.max_connections == 0 {
            return Err(DataFusionError::Configuration(
                "max connections must be at least 1".to_string(),
            ));
        }
        Ok(Shared {
            engine,
            users: Arc::new(options.users.clone()),
            read_only: options.read_only,
            max_connections: options.max_connections,
            statement_timeout: options.statement_timeout,
            idle_timeout: options.idle_timeout,
            auth_timeout: options.auth_timeout,
            shutdown: Arc::new(Shutdown::new()),
            permits: Arc::new(Semaphore::new(options.max_connections)),
            cancels: Arc::new(ConnectionManager::new()),
            pids: Arc::new(RandomPidSecretKeyGenerator::default()),
            compat: PostgresCompatibilityParser::new(),
            tls: options
                .tls
                .as_ref()
                .map(TlsIdentity::pg_acceptor)
                .transpose()?,
        })
    }

    /// The shutdown state of the connections, for [`Shutdown::drain`].
    pub(crate) fn shutdown(&self) -> Arc<Shutdown> {
        Arc::clone(&self.shutdown)
    }
}

/// Accepts clients until `stopped` turns true; each client runs on its own task.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            _ = stopped.changed() => return,
            accepted = listener.accept() => accepted,
        };
        let (socket, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                log::warn!("accepting a PostgreSQL client failed: {e}");
                continue;
            }
        };
        let _ = socket.set_nodelay(true);
        // In the order clients arrive, so the first ones get the places.
        let permit = Arc::clone(&shared.permits).try_acquire_owned().ok();
        tokio::spawn(connection::serve(socket, peer, Arc::clone(&shared), permit));
    }
}

/// The handlers of one connection; they live as long as it does.
struct ConnectionHandlers {
    startup: Arc<Startup>,
    query: Arc<query::QueryHandler>,
    cancel: Arc<DefaultCancelHandler>,
}

impl ConnectionHandlers {
    fn new(
        shared: &Arc<Shared>,
        permit: Option<OwnedSemaphorePermit>,
        activity: Arc<Activity>,
        logged_in: watch::Sender<bool>,
    ) -> Self {
        let sasl = (!shared.users.is_empty()).then(|| {
            let source = Arc::new(PasswordSource {
                users: Arc::clone(&shared.users),
            });
            // No connection manager here: the query handler registers the connection for
            // cancel requests itself, so that a cancel also stops streaming rows.
            SASLAuthStartupHandler::new(Arc::new(DefaultServerParameterProvider::default()))
                .with_scram(ScramAuth::new(source))
                .with_pid_secret_key_generator(Arc::clone(&shared.pids))
        });
        let startup = Startup {
            rejected_limit: permit.is_none().then_some(shared.max_connections),
            tls_required: shared.tls.is_some(),
            sasl,
            open: OpenStartup,
            logged_in,
        };
        ConnectionHandlers {
            startup: Arc::new(startup),
            query: Arc::new(query::QueryHandler::new(
                Arc::clone(shared),
                permit,
                activity,
            )),
            cancel: Arc::new(DefaultCancelHandler::new(Arc::clone(&shared.cancels))),
        }
    }
}

impl PgWireServerHandlers for ConnectionHandlers {
    fn simple_query_handler(&self) -> Arc<impl pgwire::api::query::SimpleQueryHandler> {
        Arc::clone(&self.query)
    }

    fn extended_query_handler(&self) -> Arc<impl pgwire::api::query::ExtendedQueryHandler> {
        Arc::clone(&self.query)
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        Arc::clone(&self.startup)
    }

    fn cancel_handler(&self) -> Arc<impl pgwire::api::cancel::CancelHandler> {
        Arc::clone(&self.cancel)
    }
}

/// Startup: refuses clients over the connection limit and, when the server has TLS, clients
/// without it; then authenticates with SCRAM when
/// the server has credentials, or lets the client in when it has none.
struct Startup {
    rejected_limit: Option<usize>,
    tls_required: bool,
    sasl: Option<SASLAuthStartupHandler<DefaultServerParameterProvider>>,
    open: OpenStartup,
    /// Turns true when the client has logged in (for the auth timeout).
    logged_in: watch::Sender<bool>,
}

#[async_trait]
impl StartupHandler for Startup {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if let Some(limit) = self.rejected_limit {
            return Err(fatal(
                sqlstate::TOO_MANY_CONNECTIONS,
                format!("sorry, too many clients already (the server allows {limit})"),
            ));
        }
        if self.tls_required && !client.is_secure() {
            return Err(fatal(
                "28000",
                "the server requires TLS (connect with sslmode=require or stricter)".to_string(),
            ));
        }
        match &self.sasl {
            Some(sasl) => sasl.on_startup(client, message).await?,
            None => self.open.on_startup(client, message).await?,
        }
        if matches!(client.state(), PgWireConnectionState::ReadyForQuery) {
            self.logged_in.send_replace(true);
        }
        Ok(())
    }
}

/// Startup without authentication (no `--user` given).
struct OpenStartup;

#[async_trait]
impl NoopStartupHandler for OpenStartup {}

/// Gives SCRAM the salted password of the user logging in.
struct PasswordSource {
    users: Arc<Vec<Credentials>>,
}

impl Debug for PasswordSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.users.fmt(f)
    }
}

#[async_trait]
impl AuthSource for PasswordSource {
    async fn get_password(&self, login: &LoginInfo) -> PgWireResult<Password> {
        let user = login.user().unwrap_or_default();
        let Some(known) = self.users.iter().find(|known| known.user == user) else {
            return Err(fatal(
                "28P01",
                format!("password authentication failed for user \"{user}\""),
            ));
        };
        let salt = random_nonce().into_bytes();
        let salted = gen_salted_password(&known.password, &salt, 4096);
        Ok(Password::new(Some(salt), salted))
    }
}

/// An error that ends the connection.
fn fatal(code: &str, message: String) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "FATAL".to_string(),
        code.to_string(),
        message,
    )))
}
