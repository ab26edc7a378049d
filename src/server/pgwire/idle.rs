//! The idle timeout of PostgreSQL connections: a connection whose client runs no statement
//! for the whole timeout is closed, so forgotten sessions do not hold a connection slot
//! forever. A statement counts as running until its last row is sent.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

/// When a connection last did something, and how many statements it is running.
#[derive(Debug)]
pub(crate) struct Activity {
    state: Mutex<(Instant, usize)>,
}

/// Marks a statement as running while it lives.
pub(crate) struct Busy(Arc<Activity>);

impl Activity {
    pub(crate) fn new() -> Arc<Activity> {
        Arc::new(Activity {
            state: Mutex::new((Instant::now(), 0)),
        })
    }

    /// A statement starts; it ends when the returned guard is dropped.
    pub(crate) fn begin(self: &Arc<Self>) -> Busy {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.1 += 1;
        Busy(Arc::clone(self))
    }

    /// Returns once the connection has been idle for `limit`.
    pub(crate) async fn idle_for(&self, limit: Duration) {
        loop {
            let (last, running) = *self.state.lock().unwrap_or_else(|e| e.into_inner());
            let due = last + limit;
            if running == 0 && Instant::now() >= due {
                return;
            }
            let wake = if running == 0 {
                due
            } else {
                Instant::now() + limit
            };
            tokio::time::sleep_until(wake).await;
        }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        let mut state = self.0.state.lock().unwrap_or_else(|e| e.into_inner());
        state.0 = Instant::now();
        state.1 = state.1.saturating_sub(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn idle_only_without_statements() {
        let activity = Activity::new();
        let busy = activity.begin();
        let limit = Duration::from_millis(20);
        let idle = tokio::time::timeout(Duration::from_millis(100), activity.idle_for(limit));
        assert!(idle.await.is_err(), "a running statement is not idle");
        drop(busy);
        let started = Instant::now();
        activity.idle_for(limit).await;
        assert!(started.elapsed() >= limit);
    }
}
