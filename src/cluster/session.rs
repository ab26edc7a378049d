//! The three sessions of a cluster query, each with quiver's codecs and functions: the
//! client's (plans here, sends the logical plan), the scheduler's (decodes it, plans the
//! stages) and each executor's (decodes and runs one stage's partitions).

use std::sync::Arc;

use ballista_core::extension::{SessionConfigExt, SessionStateExt};
use ballista_core::registry::BallistaFunctionRegistry;
use datafusion::common::{Result, plan_err};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::{SessionState, SessionStateBuilder};
use datafusion::prelude::SessionConfig;
use quiver_sql::QuiverSqlOptions;

use super::check::SendablePlanCheck;
use super::codec::{QuiverLogicalCodec, QuiverPhysicalCodec};
use super::scan_partitions::ScanPartitionsRule;
use crate::datasource::remote::with_remote_stores;
use crate::engine::{quiver_state, register_functions};

/// `state` turned into a Ballista client of the scheduler at `scheduler` (`host:port`,
/// `df://host:port` or `http://host:port`): queries planned here run on the cluster.
pub(crate) fn client_state(state: SessionState, scheduler: &str) -> Result<SessionState> {
    let url = scheduler_url(scheduler)?;
    let config = with_codecs(state.config().clone());
    let state = SessionStateBuilder::new_from_existing(state)
        .with_config(config)
        .build();
    // Ballista resets the functions to DataFusion's; quiver's go back on top.
    let mut state = state.upgrade_for_ballista(url)?;
    register_functions(&mut state)?;
    state.add_analyzer_rule(Arc::new(SendablePlanCheck));
    Ok(state)
}

/// The scheduler's session for one client session's `config`: quiver's, planning with
/// DataFusion's generic operators, each quiver scan under a `ScanPartitionsExec` so that a
/// task reads only its own partitions. The dense aggregation stays local: it is a single
/// operator over a whole grid, which a Ballista stage cannot split into tasks. So does GPU
/// placement (`quiver.gpu`): its operators hold device state no codec sends, and the
/// scheduler need not have a GPU; the executors compute on their CPUs.
pub(crate) fn scheduler_state(config: SessionConfig) -> Result<SessionState> {
    // Ballista's adaptive planner replans every stage with its own physical optimizer rules
    // and would drop `ScanPartitionsRule` (each task would then read every partition of a
    // quiver scan): quiver's jobs use its static planner.
    let mut config = config.with_ballista_adaptive_query_planner(false);
    config
        .options_mut()
        .set("quiver.dense_aggregate", "false")?;
    config.options_mut().set("quiver.gpu", "off")?;
    let runtime = with_remote_stores(RuntimeEnvBuilder::new()).build_arc()?;
    let state = quiver_state(config, runtime, None)?;
    let rules = ballista_core::optimizer::with_ballista_optimizer_rules(state.optimizers());
    Ok(SessionStateBuilder::new_from_existing(state)
        .with_optimizer_rules(rules)
        .with_physical_optimizer_rule(Arc::new(ScanPartitionsRule))
        .build())
}

/// The base configuration of scheduler and executor sessions: Ballista's, with quiver's
/// options (`quiver.*`) known so that a client's `SET quiver...` reaches them.
pub(crate) fn base_config() -> SessionConfig {
    let mut config = SessionConfig::new_with_ballista();
    config
        .options_mut()
        .extensions
        .insert(QuiverSqlOptions::default());
    with_codecs(config)
}

/// Every function an executor may be sent by name: DataFusion's and quiver's.
pub(crate) fn executor_functions() -> Result<BallistaFunctionRegistry> {
    let mut state = SessionStateBuilder::new().with_default_features().build();
    register_functions(&mut state)?;
    Ok(BallistaFunctionRegistry::from(&state))
}

fn with_codecs(config: SessionConfig) -> SessionConfig {
    config
        .with_ballista_logical_extension_codec(Arc::new(QuiverLogicalCodec::default()))
        .with_ballista_physical_extension_codec(Arc::new(QuiverPhysicalCodec::default()))
}

/// `http://host:port` from what a user gives as the scheduler's address.
pub(crate) fn scheduler_url(scheduler: &str) -> Result<String> {
    let address = ["df://", "http://"]
        .iter()
        .find_map(|prefix| scheduler.strip_prefix(prefix))
        .unwrap_or(scheduler)
        .trim_end_matches('/');
    match address.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {
            Ok(format!("http://{address}"))
        }
        _ => plan_err!(
            "invalid scheduler address '{scheduler}': expected host:port, such as 127.0.0.1:50050"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::scheduler_url;

    #[test]
    fn scheduler_addresses() {
        for given in [
            "10.0.0.5:50050",
            "df://10.0.0.5:50050",
            "http://10.0.0.5:50050/",
        ] {
            assert_eq!(scheduler_url(given).unwrap(), "http://10.0.0.5:50050");
        }
        for wrong in ["10.0.0.5", ":50050", "host:port", "df://host:99999"] {
            let error = scheduler_url(wrong).unwrap_err().to_string();
            assert!(error.contains(wrong), "{error}");
        }
    }
}
