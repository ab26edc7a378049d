//! `quiver cluster scheduler|executor`: the processes of a Ballista cluster that runs
//! quiver's queries (`quiver --cluster ADDR` connects the shell to it). See docs/cluster.md.

use std::net::SocketAddr;

use anyhow::{Context, Result};
use quiver::cluster::{ClusterScheduler, ExecutorOptions, run_executor};

/// The processes of a cluster.
#[derive(Debug, clap::Subcommand)]
pub enum ClusterCommand {
    /// Run the scheduler: it takes queries from clients and hands their tasks to executors.
    Scheduler {
        /// Where clients and executors reach the scheduler.
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:50050")]
        bind: SocketAddr,
    },
    /// Run an executor: it joins the scheduler and runs tasks (reads, joins, aggregates).
    Executor {
        /// The scheduler's address.
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:50050")]
        scheduler: SocketAddr,
        /// Where other executors and clients fetch this executor's results (Arrow Flight).
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:50051")]
        bind: SocketAddr,
        /// The port on which the scheduler hands tasks to this executor.
        #[arg(long, value_name = "PORT", default_value_t = 50052)]
        grpc_port: u16,
        /// The host name or address the others reach this executor at (default: --bind's).
        #[arg(long, value_name = "HOST")]
        advertise_host: Option<String>,
        /// Tasks run at once (default: the number of CPU cores).
        #[arg(long, value_name = "N")]
        slots: Option<usize>,
    },
}

/// Runs a cluster process until it is stopped.
pub async fn run(command: ClusterCommand) -> Result<()> {
    match command {
        ClusterCommand::Scheduler { bind } => {
            let scheduler = ClusterScheduler::start(bind).await?;
            eprintln!(
                "quiver cluster scheduler listening on {}",
                scheduler.address()
            );
            scheduler.serve().await?;
        }
        ClusterCommand::Executor {
            scheduler,
            bind,
            grpc_port,
            advertise_host,
            slots,
        } => {
            anyhow::ensure!(slots != Some(0), "--slots must be at least 1");
            let mut options = ExecutorOptions::new(scheduler, bind, grpc_port);
            options.advertise_host = advertise_host;
            options.slots = slots;
            eprintln!("quiver cluster executor on {bind} joining the scheduler at {scheduler}");
            run_executor(options)
                .await
                .with_context(|| format!("executor joining the scheduler at {scheduler}"))?;
        }
    }
    Ok(())
}
