//! A progress line on stderr for long queries in a terminal: rows and bytes scanned so far
//! and the elapsed time, read from the running plan's scan metrics. Never shown in batch
//! mode, and only after the query has run for half a second.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use datafusion::physical_plan::ExecutionPlan;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A running progress display; call [`Progress::finish`] when the query ends.
pub(crate) struct Progress {
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Progress {
    /// Starts watching `plan` (does nothing when stderr is not a terminal).
    pub(crate) fn start(plan: Arc<dyn ExecutionPlan>) -> Self {
        if !std::io::stderr().is_terminal() {
            return Self { task: None };
        }
        let task = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{spinner} {elapsed} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            let bar = ClearOnDrop(bar);
            loop {
                let (rows, bytes) = scanned(plan.as_ref());
                bar.0.set_message(format!(
                    "{rows} rows, {} scanned (Ctrl-C cancels)",
                    indicatif::HumanBytes(bytes as u64)
                ));
                bar.0.tick();
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        Self { task: Some(task) }
    }

    /// Stops and clears the display.
    pub(crate) async fn finish(self) {
        if let Some(task) = self.task {
            task.abort();
            // Wait for the task to drop its bar, which clears the line.
            let _ = task.await;
        }
    }
}

/// Clears the bar when the watching task is aborted.
struct ClearOnDrop(ProgressBar);

impl Drop for ClearOnDrop {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

/// Rows produced and bytes read by the plan's leaf operators (the scans) so far.
fn scanned(plan: &dyn ExecutionPlan) -> (usize, usize) {
    let children = plan.children();
    if children.is_empty() {
        let metrics = plan.metrics();
        let rows = metrics.as_ref().and_then(|m| m.output_rows()).unwrap_or(0);
        let bytes = metrics
            .as_ref()
            .and_then(|m| m.sum_by_name("bytes_scanned"))
            .map(|v| v.as_usize())
            .unwrap_or(0);
        return (rows, bytes);
    }
    children.iter().fold((0, 0), |(r, b), child| {
        let (cr, cb) = scanned(child.as_ref());
        (r + cr, b + cb)
    })
}
