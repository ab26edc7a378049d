//! `quiver cluster scheduler`: Ballista's scheduler with quiver's sessions and codecs, on a
//! listener bound before it is returned (so port 0 works and clients may connect at once).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::{create_scheduler, start_grpc_service_with_listener};
use ballista_scheduler::scheduler_server::SchedulerServer;
use datafusion::common::{DataFusionError, Result};
use datafusion_proto::protobuf::{LogicalPlanNode, PhysicalPlanNode};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::codec::{QuiverLogicalCodec, QuiverPhysicalCodec};
use super::session::{base_config, scheduler_state};

/// How long an executor may go without a heartbeat before its tasks are run elsewhere, and
/// how long jobs wait for an executor when none is left before they fail (Ballista's
/// default is 180 s for both; executors beat every [`super::executor::HEARTBEAT`]).
const EXECUTOR_TIMEOUT: Duration = Duration::from_secs(30);

/// A running scheduler.
pub struct ClusterScheduler {
    address: SocketAddr,
    server: SchedulerServer<LogicalPlanNode, PhysicalPlanNode>,
    task: JoinHandle<Result<()>>,
}

impl std::fmt::Debug for ClusterScheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterScheduler")
            .field("address", &self.address)
            .finish()
    }
}

impl ClusterScheduler {
    /// Starts a scheduler listening on `bind` (port 0: any free port) on the current tokio
    /// runtime. Executors and clients connect to [`address`](Self::address).
    pub async fn start(bind: SocketAddr) -> Result<Self> {
        let listener = TcpListener::bind(bind)
            .await
            .map_err(|e| DataFusionError::Configuration(format!("cannot listen on {bind}: {e}")))?;
        let address = listener.local_addr()?;
        let config = SchedulerConfig {
            bind_host: address.ip().to_string(),
            external_host: address.ip().to_string(),
            bind_port: address.port(),
            executor_timeout_seconds: EXECUTOR_TIMEOUT.as_secs(),
            expire_dead_executor_interval_seconds: 5,
            no_executors_grace_period_seconds: EXECUTOR_TIMEOUT.as_secs(),
            override_config_producer: Some(Arc::new(base_config)),
            override_session_builder: Some(Arc::new(scheduler_state)),
            override_logical_codec: Some(Arc::new(QuiverLogicalCodec::default())),
            override_physical_codec: Some(Arc::new(QuiverPhysicalCodec::default())),
            ..SchedulerConfig::default()
        };
        config.validate().map_err(ballista_error)?;
        let cluster = BallistaCluster::new_from_config(&config)
            .await
            .map_err(ballista_error)?;
        let server =
            create_scheduler::<LogicalPlanNode, PhysicalPlanNode>(cluster, Arc::new(config))
                .await
                .map_err(ballista_error)?;
        let serving = server.clone();
        let task = tokio::spawn(async move {
            start_grpc_service_with_listener(listener, serving)
                .await
                .map_err(ballista_error)
        });
        Ok(Self {
            address,
            server,
            task,
        })
    }

    /// Where the scheduler listens.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The ids of the registered executors (a restarted executor registers under a new id).
    pub async fn executor_ids(&self) -> Result<Vec<String>> {
        let executors = self
            .server
            .state
            .executor_manager
            .get_executors_state()
            .await
            .map_err(ballista_error)?;
        Ok(executors
            .into_iter()
            .map(|(metadata, _, _)| metadata.id)
            .collect())
    }

    /// How many executors are registered.
    pub async fn executors(&self) -> Result<usize> {
        Ok(self.executor_ids().await?.len())
    }

    /// Waits until at least `count` executors are registered, up to `timeout`.
    pub async fn wait_for_executors(&self, count: usize, timeout: Duration) -> Result<()> {
        self.wait_for(timeout, &format!("{count} executors"), |ids| {
            (ids.len() >= count).then_some(())
        })
        .await
    }

    /// Waits until an executor whose id is not in `known` registers, up to `timeout`, and
    /// returns its id: how a restarted executor is seen to have rejoined.
    pub async fn wait_for_new_executor(
        &self,
        known: &[String],
        timeout: Duration,
    ) -> Result<String> {
        self.wait_for(timeout, "a new executor", |ids| {
            ids.iter().find(|id| !known.contains(id)).cloned()
        })
        .await
    }

    /// Polls the registered executors' ids until `ready` gives an answer, up to `timeout`;
    /// the error names `what` was awaited and how many were registered.
    async fn wait_for<T>(
        &self,
        timeout: Duration,
        what: &str,
        ready: impl Fn(&[String]) -> Option<T>,
    ) -> Result<T> {
        let deadline = Instant::now() + timeout;
        loop {
            let ids = self.executor_ids().await?;
            if let Some(answer) = ready(&ids) {
                return Ok(answer);
            }
            if Instant::now() >= deadline {
                return Err(DataFusionError::Execution(format!(
                    "{what} did not register with the scheduler at {} within {timeout:?} \
                     ({} registered)",
                    self.address,
                    ids.len()
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Serves until the server stops (an error) or the process ends.
    pub async fn serve(self) -> Result<()> {
        match self.task.await {
            Ok(result) => result,
            Err(e) => Err(DataFusionError::Execution(format!(
                "the scheduler at {} stopped: {e}",
                self.address
            ))),
        }
    }
}

/// Ballista's error as a DataFusion error (its message kept).
pub(crate) fn ballista_error(error: ballista_core::error::BallistaError) -> DataFusionError {
    DataFusionError::External(Box::new(error))
}
