//! quiver's tables and scans as bytes inside Ballista plans, and back.
//!
//! A table or scan travels as what opens it again (file paths in the order the layout
//! concatenated them, and the reader options), never as data. A scan also carries its exact
//! partitions (blocks or files): partition numbers must mean on the executor what they meant
//! on the scheduler, never be recomputed from the executor's settings. Which of them a task
//! reads is decided by [`super::scan_partitions`].
//!
//! The bytes are a marker that no protobuf message starts with (a zero byte: field number
//! 0 does not exist) followed by JSON, so the codecs tell quiver's nodes from Ballista's.

use std::sync::Arc;

use datafusion::catalog::TableProvider;
use datafusion::common::{DataFusionError, Result, plan_err};
use datafusion::physical_plan::ExecutionPlan;
use serde::{Deserialize, Serialize};

use super::scan_partitions::ScanPartitionsExec;
use crate::datasource::array::{GridScan, ReadBlock};
use crate::datasource::hdf5::schema::Hdf5Layout;
use crate::datasource::hdf5::{Hdf5Exec, Hdf5Options, Hdf5Table};
use crate::datasource::netcdf::schema::ArrayLayout;
use crate::datasource::netcdf::{NetCdfExec, NetCdfOptions, NetCdfTable};
use crate::datasource::text::{TextExec, TextFile, TextKind, TextTable};

/// What starts quiver's bytes in a plan.
const MARKER: &[u8] = b"\0quiver1";

/// A table or scan of quiver's, as sent.
#[derive(Debug, Serialize, Deserialize)]
enum Node {
    NetCdfTable(NetCdfFiles),
    Hdf5Table(Hdf5Files),
    TextTable(TextFiles),
    NetCdfExec(NetCdfFiles, ArrayScan),
    Hdf5Exec(Hdf5Files, ArrayScan),
    TextExec(TextScan),
    /// A scan under a `ScanPartitionsExec` (its child, the partition numbers, travels as a
    /// child of the plan).
    ScanPartitions(Box<Node>),
}

/// NetCDF files as their layout ordered them, and the options that open them.
#[derive(Debug, Serialize, Deserialize)]
struct NetCdfFiles {
    paths: Vec<String>,
    variables: Vec<String>,
    decode_cf: bool,
    decode_times: Option<bool>,
    group: String,
    filename: bool,
    nearest: Vec<(String, String)>,
}

/// HDF5 files as their layout ordered them, the dataset and the options.
#[derive(Debug, Serialize, Deserialize)]
struct Hdf5Files {
    paths: Vec<String>,
    dataset: String,
    enum_labels: bool,
    allow_external: bool,
}

/// Text files with their sizes.
#[derive(Debug, Serialize, Deserialize)]
struct TextFiles {
    lines: bool,
    files: Vec<(String, u64)>,
    lossy: bool,
}

/// What a NetCDF or HDF5 scan reads: columns, index ranges, limit, and each partition's
/// blocks as `(file, start, end)`.
#[derive(Debug, Serialize, Deserialize)]
struct ArrayScan {
    projection: Vec<usize>,
    ranges: Vec<(u64, u64)>,
    limit: Option<usize>,
    batch_size: usize,
    partitions: Vec<Vec<(usize, u64, u64)>>,
}

/// A text scan: table kind, columns and each partition's files.
#[derive(Debug, Serialize, Deserialize)]
struct TextScan {
    lines: bool,
    projection: Option<Vec<usize>>,
    partitions: Vec<Vec<(String, u64)>>,
    lossy: bool,
}

/// Appends `provider` to `buf` if it is one of quiver's tables; `false` if it is not.
pub(crate) fn encode_table(provider: &dyn TableProvider, buf: &mut Vec<u8>) -> Result<bool> {
    let node = if let Some(table) = provider.downcast_ref::<NetCdfTable>() {
        Node::NetCdfTable(netcdf_files(table.layout()))
    } else if let Some(table) = provider.downcast_ref::<Hdf5Table>() {
        Node::Hdf5Table(hdf5_files(table.layout()))
    } else if let Some(table) = provider.downcast_ref::<TextTable>() {
        Node::TextTable(TextFiles {
            lines: table.kind() == TextKind::Lines,
            files: text_files(table.files()),
            lossy: table.lossy(),
        })
    } else {
        return Ok(false);
    };
    write(&node, buf)?;
    Ok(true)
}

/// The table in `buf` if quiver wrote it (files opened again here); `None` if not.
pub(crate) fn decode_table(buf: &[u8]) -> Option<Result<Arc<dyn TableProvider>>> {
    let node = read(buf)?;
    Some(node.and_then(|node| -> Result<Arc<dyn TableProvider>> {
        Ok(match node {
            Node::NetCdfTable(files) => {
                Arc::new(NetCdfTable::try_new(&files.paths, &netcdf_options(&files))?)
            }
            Node::Hdf5Table(files) => Arc::new(Hdf5Table::try_new(
                &files.paths,
                Some(&files.dataset),
                &hdf5_options(&files),
            )?),
            Node::TextTable(table) => Arc::new(TextTable::from_files(
                text_kind(table.lines),
                from_text_files(table.files),
                table.lossy,
            )),
            other => return plan_err!("expected a table, got a scan: {other:?}"),
        })
    }))
}

/// Whether `plan` is one of quiver's scans (NetCDF, HDF5, text).
pub(crate) fn is_quiver_scan(plan: &dyn ExecutionPlan) -> bool {
    plan.is::<NetCdfExec>() || plan.is::<Hdf5Exec>() || plan.is::<TextExec>()
}

/// Appends `plan` to `buf` if it is one of quiver's scans; `false` if it is not.
pub(crate) fn encode_exec(plan: &dyn ExecutionPlan, buf: &mut Vec<u8>) -> Result<bool> {
    match exec_node(plan) {
        Some(node) => write(&node, buf).map(|()| true),
        None => Ok(false),
    }
}

fn exec_node(plan: &dyn ExecutionPlan) -> Option<Node> {
    Some(
        if let Some(wrapper) = plan.downcast_ref::<ScanPartitionsExec>() {
            Node::ScanPartitions(Box::new(exec_node(wrapper.scan().as_ref())?))
        } else if let Some(exec) = plan.downcast_ref::<NetCdfExec>() {
            Node::NetCdfExec(
                netcdf_files(exec.layout()),
                array_scan(exec.grid_scan(), exec.batch_size(), exec.partitions()),
            )
        } else if let Some(exec) = plan.downcast_ref::<Hdf5Exec>() {
            Node::Hdf5Exec(
                hdf5_files(exec.layout()),
                array_scan(exec.grid_scan(), exec.batch_size(), exec.partitions()),
            )
        } else if let Some(exec) = plan.downcast_ref::<TextExec>() {
            Node::TextExec(TextScan {
                lines: exec.kind() == TextKind::Lines,
                projection: exec.projection().map(<[usize]>::to_vec),
                partitions: exec.partitions().iter().map(|p| text_files(p)).collect(),
                lossy: exec.lossy(),
            })
        } else {
            return None;
        },
    )
}

/// What an array scan sends: its columns, ranges, limit, batch size and exact partitions.
fn array_scan(scan: GridScan, batch_size: usize, partitions: &[Vec<ReadBlock>]) -> ArrayScan {
    ArrayScan {
        projection: scan.projection,
        ranges: scan.ranges,
        limit: scan.limit,
        batch_size,
        partitions: blocks(partitions),
    }
}

/// The scan in `buf` if quiver wrote it, with the partitions it was planned with and the
/// plan's decoded `inputs` as children; `None` if quiver did not write it.
pub(crate) fn decode_exec(
    buf: &[u8],
    inputs: &[Arc<dyn ExecutionPlan>],
) -> Option<Result<Arc<dyn ExecutionPlan>>> {
    let node = read(buf)?;
    Some(node.and_then(|node| build_exec(node, inputs)))
}

fn build_exec(node: Node, inputs: &[Arc<dyn ExecutionPlan>]) -> Result<Arc<dyn ExecutionPlan>> {
    Ok(match node {
        Node::ScanPartitions(scan) => {
            let [numbers] = inputs else {
                return plan_err!("ScanPartitionsExec takes one child, got {}", inputs.len());
            };
            Arc::new(ScanPartitionsExec::with_numbers(
                build_exec(*scan, &[])?,
                Arc::clone(numbers),
            ))
        }
        Node::NetCdfExec(files, scan) => {
            let layout = ArrayLayout::try_new(&files.paths, &netcdf_options(&files))?;
            let opened: Vec<&str> = layout.files.iter().map(|f| f.path.as_str()).collect();
            same_order(&files.paths, &opened)?;
            Arc::new(NetCdfExec::try_with_partitions(
                Arc::new(layout),
                scan.projection,
                scan.ranges,
                scan.limit,
                scan.batch_size,
                read_blocks(scan.partitions),
            )?)
        }
        Node::Hdf5Exec(files, scan) => {
            let layout =
                Hdf5Layout::try_new(&files.paths, Some(&files.dataset), &hdf5_options(&files))?;
            let opened: Vec<&str> = layout.files.iter().map(|f| f.path.as_str()).collect();
            same_order(&files.paths, &opened)?;
            Arc::new(Hdf5Exec::try_with_partitions(
                Arc::new(layout),
                scan.projection,
                scan.ranges,
                scan.limit,
                scan.batch_size,
                read_blocks(scan.partitions),
            )?)
        }
        Node::TextExec(scan) => {
            let kind = text_kind(scan.lines);
            let schema = TextTable::from_files(kind, Vec::new(), scan.lossy).schema();
            Arc::new(TextExec::with_partitions(
                kind,
                schema,
                scan.projection,
                scan.partitions.into_iter().map(from_text_files).collect(),
                scan.lossy,
            )?)
        }
        other => return plan_err!("expected a scan, got a table: {other:?}"),
    })
}

fn write(node: &Node, buf: &mut Vec<u8>) -> Result<()> {
    buf.extend_from_slice(MARKER);
    serde_json::to_writer(buf, node)
        .map_err(|e| DataFusionError::Internal(format!("encoding {node:?} for the cluster: {e}")))
}

fn read(buf: &[u8]) -> Option<Result<Node>> {
    let json = buf.strip_prefix(MARKER)?;
    Some(serde_json::from_slice(json).map_err(|e| {
        DataFusionError::Plan(format!(
            "a quiver table or scan sent by the cluster could not be read ({e}): \
             are all processes the same quiver version?"
        ))
    }))
}

/// Block indices refer to files by position: the files must open in the order they were
/// planned in (the layout orders them by their first coordinate, so they do unless the
/// files changed in between).
fn same_order(planned: &[String], opened: &[&str]) -> Result<()> {
    if planned
        .iter()
        .map(String::as_str)
        .eq(opened.iter().copied())
    {
        Ok(())
    } else {
        plan_err!(
            "the files of a scan opened in another order on this executor than where the query \
             was planned ({} instead of {}): did they change?",
            opened.join(", "),
            planned.join(", ")
        )
    }
}

fn netcdf_files(layout: &ArrayLayout) -> NetCdfFiles {
    let options = &layout.options;
    NetCdfFiles {
        paths: layout.files.iter().map(|f| f.path.clone()).collect(),
        variables: options.variables.clone(),
        decode_cf: options.decode_cf,
        decode_times: options.decode_times,
        group: options.group.clone(),
        filename: options.filename,
        nearest: options.nearest.clone(),
    }
}

fn netcdf_options(files: &NetCdfFiles) -> NetCdfOptions {
    NetCdfOptions {
        variables: files.variables.clone(),
        decode_cf: files.decode_cf,
        decode_times: files.decode_times,
        group: files.group.clone(),
        filename: files.filename,
        nearest: files.nearest.clone(),
    }
}

fn hdf5_files(layout: &Hdf5Layout) -> Hdf5Files {
    Hdf5Files {
        paths: layout.files.iter().map(|f| f.path.clone()).collect(),
        dataset: layout.dataset_path.clone(),
        enum_labels: layout.options.enum_labels,
        allow_external: layout.options.allow_external,
    }
}

fn hdf5_options(files: &Hdf5Files) -> Hdf5Options {
    Hdf5Options {
        enum_labels: files.enum_labels,
        allow_external: files.allow_external,
    }
}

fn blocks(partitions: &[Vec<ReadBlock>]) -> Vec<Vec<(usize, u64, u64)>> {
    partitions
        .iter()
        .map(|p| p.iter().map(|b| (b.file, b.start, b.end)).collect())
        .collect()
}

fn read_blocks(partitions: Vec<Vec<(usize, u64, u64)>>) -> Vec<Vec<ReadBlock>> {
    partitions
        .into_iter()
        .map(|p| {
            p.into_iter()
                .map(|(file, start, end)| ReadBlock { file, start, end })
                .collect()
        })
        .collect()
}

fn text_kind(lines: bool) -> TextKind {
    if lines {
        TextKind::Lines
    } else {
        TextKind::Files
    }
}

fn text_files(files: &[TextFile]) -> Vec<(String, u64)> {
    files.iter().map(|f| (f.path.clone(), f.size)).collect()
}

fn from_text_files(files: Vec<(String, u64)>) -> Vec<TextFile> {
    files
        .into_iter()
        .map(|(path, size)| TextFile { path, size })
        .collect()
}
