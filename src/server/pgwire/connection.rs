//! The life of one PostgreSQL connection: the protocol session (pgwire), cut short by the
//! authentication timeout, the idle timeout, or the server's shutdown.

use std::net::SocketAddr;
use std::sync::Arc;

use datafusion_postgres::pgwire;
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, watch};

use super::idle::Activity;
use super::shutdown::{self, Open};
use super::{ConnectionHandlers, Shared};

/// Serves the client on `socket` until it leaves or one of the server's limits ends it;
/// without a `permit` (a place under the connection limit) it is refused.
pub(crate) async fn serve(
    socket: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    permit: Option<OwnedSemaphorePermit>,
) {
    let _open: Open = shared.shutdown.open();
    let activity = Activity::new();
    let (logged_in, login) = watch::channel(false);
    let handlers = ConnectionHandlers::new(&shared, permit, Arc::clone(&activity), logged_in);
    let session = pgwire::tokio::process_socket(socket, shared.tls.clone(), handlers);
    let idle = async {
        match shared.idle_timeout {
            Some(limit) => activity.idle_for(limit).await,
            None => std::future::pending().await,
        }
    };
    let auth = async {
        let mut login = login;
        let logged_in = login.wait_for(|done| *done);
        if tokio::time::timeout(shared.auth_timeout, logged_in)
            .await
            .is_ok()
        {
            std::future::pending::<()>().await;
        }
    };
    let ended = tokio::select! {
        ended = session => ended,
        _ = idle => {
            log::info!("closing the idle connection from {peer}");
            Ok(())
        }
        _ = auth => {
            log::info!("closing the connection from {peer}: no login within the auth timeout");
            Ok(())
        }
        _ = shutdown::closed(shared.shutdown.watch()) => {
            log::info!("closing the connection from {peer}: the server is shutting down");
            Ok(())
        }
    };
    if let Err(e) = ended {
        log::info!("connection from {peer} ended with an error: {e}");
    }
}
