//! Buffers between host and device: slices uploaded as storage buffers, zeroed outputs,
//! results read back with a bounded wait, and device work run inside error scopes so that a
//! failing kernel (validation, out of memory) is an error for the caller to handle, never a
//! panic or a hang.

use std::time::Duration;

use bytemuck::Pod;
use datafusion::common::{DataFusionError, Result};
use wgpu::util::DeviceExt;
use wgpu::{Buffer, BufferUsages, ErrorFilter};

use super::device::Gpu;

/// The longest a kernel may run before it counts as failed.
const WAIT: Duration = Duration::from_secs(120);

fn gpu_err(what: impl std::fmt::Display) -> DataFusionError {
    DataFusionError::Execution(format!("GPU: {what}"))
}

/// A storage buffer holding `data` (at least 4 bytes: wgpu refuses empty bindings).
pub(crate) fn upload<T: Pod>(gpu: &Gpu, label: &str, data: &[T]) -> Buffer {
    let bytes: &[u8] = bytemuck::cast_slice(data);
    let padding = [0u8; 4];
    gpu.device
        .create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(label),
            contents: if bytes.is_empty() { &padding } else { bytes },
            usage: BufferUsages::STORAGE | BufferUsages::COPY_SRC,
        })
}

/// A storage buffer holding the first `bytes` of each of `parts`, one after another,
/// copied on the device.
pub(crate) fn pack(gpu: &Gpu, label: &str, parts: &[&Buffer], bytes: u64) -> Buffer {
    let packed = gpu.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size: (bytes * parts.len() as u64).max(4).next_multiple_of(4),
        usage: BufferUsages::STORAGE | BufferUsages::COPY_DST | BufferUsages::COPY_SRC,
        mapped_at_creation: false,
    });
    let mut encoder = gpu.device.create_command_encoder(&Default::default());
    for (i, part) in parts.iter().enumerate() {
        encoder.copy_buffer_to_buffer(part, 0, &packed, i as u64 * bytes, bytes);
    }
    gpu.queue.submit([encoder.finish()]);
    packed
}

/// A uniform buffer holding `data`.
pub(crate) fn uniform<T: Pod>(gpu: &Gpu, label: &str, data: &T) -> Buffer {
    gpu.device
        .create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(label),
            contents: bytemuck::bytes_of(data),
            usage: BufferUsages::UNIFORM,
        })
}

/// A zero-filled storage buffer of `bytes` (at least 4) that kernels write and the host may
/// read back.
pub(crate) fn zeroed(gpu: &Gpu, label: &str, bytes: u64) -> Buffer {
    gpu.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size: bytes.max(4).next_multiple_of(4),
        usage: BufferUsages::STORAGE | BufferUsages::COPY_SRC,
        mapped_at_creation: false,
    })
}

/// Copies the first `count` elements of `buffer` to the host, waiting for the work queued
/// before (at most [`WAIT`]).
pub(crate) fn read<T: Pod>(gpu: &Gpu, buffer: &Buffer, count: usize) -> Result<Vec<T>> {
    let bytes = (count * size_of::<T>()) as u64;
    if bytes == 0 {
        return Ok(Vec::new());
    }
    let staging = gpu.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("readback"),
        size: bytes.next_multiple_of(4),
        usage: BufferUsages::MAP_READ | BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let mut encoder = gpu.device.create_command_encoder(&Default::default());
    encoder.copy_buffer_to_buffer(buffer, 0, &staging, 0, bytes.next_multiple_of(4));
    let submission = gpu.queue.submit([encoder.finish()]);
    let (tx, rx) = std::sync::mpsc::channel();
    staging.map_async(wgpu::MapMode::Read, .., move |r| {
        // The receiver waits below; if it gave up, nobody needs the result.
        let _ = tx.send(r);
    });
    wait(gpu, Some(submission))?;
    rx.recv_timeout(WAIT)
        .map_err(|_| gpu_err("reading a result back timed out"))?
        .map_err(gpu_err)?;
    let view = staging.get_mapped_range(..).map_err(gpu_err)?;
    let out = bytemuck::pod_collect_to_vec::<u8, T>(&view[..bytes as usize]);
    drop(view);
    staging.unmap();
    Ok(out)
}

/// Waits (at most [`WAIT`]) until the device has finished `submission`, or everything
/// submitted so far.
pub(crate) fn wait(gpu: &Gpu, submission: Option<wgpu::SubmissionIndex>) -> Result<()> {
    gpu.device
        .poll(wgpu::PollType::Wait {
            submission_index: submission,
            timeout: Some(WAIT),
        })
        .map_err(gpu_err)?;
    Ok(())
}

/// Runs `work` with validation, out-of-memory and internal errors captured: any of them
/// makes the result an error.
pub(crate) fn scoped<R>(gpu: &Gpu, work: impl FnOnce() -> Result<R>) -> Result<R> {
    let scopes = [
        gpu.device.push_error_scope(ErrorFilter::Internal),
        gpu.device.push_error_scope(ErrorFilter::OutOfMemory),
        gpu.device.push_error_scope(ErrorFilter::Validation),
    ];
    let result = work();
    let mut first_error = None;
    for scope in scopes.into_iter().rev() {
        if let Some(e) = pollster::block_on(scope.pop()) {
            first_error.get_or_insert(e);
        }
    }
    match first_error {
        Some(e) => Err(gpu_err(e)),
        None => result,
    }
}
