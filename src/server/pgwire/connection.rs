//! The life of one PostgreSQL connection: the protocol session (pgwire), cut short by the
//! authentication timeout, the idle timeout, the server's shutdown, or the client going away
//! (a killed client: its running statement is dropped, which stops the query's work, instead
//! of running on until it tries to send rows).

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
    let watcher = watcher(&socket);
    let session = pgwire::tokio::process_socket(socket, shared.tls.clone(), handlers);
    let gone = async {
        match watcher {
            Some(watcher) => peer_gone(watcher).await,
            None => std::future::pending().await,
        }
    };
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
        _ = gone => {
            log::info!("the client at {peer} went away; its statement, if any, is stopped");
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

/// A second handle on the client's connection (a duplicated descriptor) to watch it with
/// while pgwire owns the first; None when it cannot be made (the connection is then served
/// without the watch).
fn watcher(socket: &TcpStream) -> Option<TcpStream> {
    use std::os::fd::AsFd;
    let fd = socket.as_fd().try_clone_to_owned().ok()?;
    TcpStream::from_std(std::net::TcpStream::from(fd)).ok()
}

/// Returns when the client has closed the connection or it failed. Unread bytes (the next
/// message, waiting until the running statement ends) are looked at again a little later,
/// not read.
async fn peer_gone(watcher: TcpStream) {
    let mut byte = [0u8; 1];
    loop {
        match watcher.peek(&mut byte).await {
            Ok(0) | Err(_) => return,
            Ok(_) => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
        }
    }
}
