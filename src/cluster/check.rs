//! The client's last analyzer rule: a plan that holds a table or node the cluster cannot
//! run fails here, before it is submitted, with an error naming it (rather than as a
//! serialization failure inside Ballista's client).

use datafusion::catalog::default_table_source::source_as_provider;
use datafusion::common::Result;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::config::ConfigOptions;
use datafusion::datasource::cte_worktable::CteWorkTable;
use datafusion::datasource::empty::EmptyTable;
use datafusion::datasource::listing::ListingTable;
use datafusion::datasource::{TableProvider, ViewTable};
use datafusion::logical_expr::LogicalPlan;
use datafusion::optimizer::AnalyzerRule;
use datafusion_proto::logical_plan::LogicalExtensionCodec;

use super::codec::{QuiverLogicalCodec, cannot_send};
use super::scans;

/// Refuses plans the cluster cannot run, naming what it cannot.
#[derive(Debug, Default)]
pub(crate) struct SendablePlanCheck;

impl AnalyzerRule for SendablePlanCheck {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        let codec = QuiverLogicalCodec::default();
        plan.apply_with_subqueries(|node| {
            match node {
                LogicalPlan::TableScan(scan) => {
                    let provider = source_as_provider(&scan.source)?;
                    if !sendable(provider.as_ref())? {
                        return Err(cannot_send(
                            &format!("table {}", scan.table_name),
                            "no codec sends it",
                        ));
                    }
                }
                LogicalPlan::Extension(extension) => {
                    codec.try_encode(extension, &mut Vec::new())?;
                }
                _ => {}
            }
            Ok(TreeNodeRecursion::Continue)
        })?;
        Ok(plan)
    }

    fn name(&self) -> &str {
        "quiver_sendable_plan_check"
    }
}

/// Whether DataFusion's protobuf form or quiver's codec can send `provider`.
fn sendable(provider: &dyn TableProvider) -> Result<bool> {
    Ok(provider.is::<ListingTable>()
        || provider.is::<ViewTable>()
        || provider.is::<CteWorkTable>()
        || provider.is::<EmptyTable>()
        || scans::encode_table(provider, &mut Vec::new())?)
}
