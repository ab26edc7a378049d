//! `quiver cluster executor`: Ballista's executor with quiver's functions and codecs, so
//! that it can run stages holding quiver's scans and functions.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use datafusion::common::Result;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::SessionConfig;

use super::codec::{QuiverLogicalCodec, QuiverPhysicalCodec};
use super::scheduler::ballista_error;
use super::session::{base_config, executor_functions};
use crate::datasource::remote::with_remote_stores;

/// How often an executor tells the scheduler it is alive (Ballista's default is 60 s): a
/// killed executor's tasks go to the others once the scheduler has missed its beats.
pub(crate) const HEARTBEAT: Duration = Duration::from_secs(5);

/// Where an executor listens and which scheduler it joins.
#[derive(Debug, Clone)]
pub struct ExecutorOptions {
    /// The scheduler's address.
    pub scheduler: SocketAddr,
    /// Where other executors and clients fetch this executor's results (Arrow Flight).
    pub bind: SocketAddr,
    /// The port on which the scheduler hands this executor its tasks (on `bind`'s host).
    pub grpc_port: u16,
    /// The host name or address others reach this executor at (default: `bind`'s host).
    pub advertise_host: Option<String>,
    /// Tasks run at once (default: the number of CPU cores).
    pub slots: Option<usize>,
}

impl ExecutorOptions {
    /// An executor on `bind` (results) and `grpc_port` (tasks) joining `scheduler`.
    pub fn new(scheduler: SocketAddr, bind: SocketAddr, grpc_port: u16) -> Self {
        Self {
            scheduler,
            bind,
            grpc_port,
            advertise_host: None,
            slots: None,
        }
    }
}

/// Runs an executor until it is stopped (Ctrl-C, SIGTERM or the scheduler); its
/// registration with the scheduler is the sign that it is ready.
pub async fn run_executor(options: ExecutorOptions) -> Result<()> {
    let defaults = ExecutorProcessConfig::default();
    let config = ExecutorProcessConfig {
        bind_host: options.bind.ip().to_string(),
        external_host: options
            .advertise_host
            .or_else(|| Some(options.bind.ip().to_string())),
        port: options.bind.port(),
        grpc_port: options.grpc_port,
        scheduler_host: options.scheduler.ip().to_string(),
        scheduler_port: options.scheduler.port(),
        vcores: options.slots.unwrap_or(defaults.vcores),
        print_thread_info: false,
        executor_heartbeat_interval_seconds: HEARTBEAT.as_secs(),
        override_function_registry: Some(Arc::new(executor_functions()?)),
        override_config_producer: Some(Arc::new(base_config)),
        override_logical_codec: Some(Arc::new(QuiverLogicalCodec::default())),
        override_physical_codec: Some(Arc::new(QuiverPhysicalCodec::default())),
        // Spills go to the operating system's temporary directory.
        override_runtime_producer: Some(Arc::new(|_: &SessionConfig| {
            Ok(Arc::new(
                with_remote_stores(RuntimeEnvBuilder::new()).build()?,
            ))
        })),
        ..defaults
    };
    start_executor_process(Arc::new(config))
        .await
        .map_err(ballista_error)
}
