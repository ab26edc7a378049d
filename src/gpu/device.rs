//! The process-wide GPU: headless adapter discovery (Vulkan/Metal/DX12, then GL; or what
//! `WGPU_BACKEND` names), one device and queue created lazily on first use and shared by
//! every query, and the adapter's capabilities for `.gpu` and `quiver --gpu-info`.
//!
//! Discovery runs once; its failure is remembered too, so a machine without a GPU pays for
//! the search once and every later query learns the same reason.

use std::fmt;
use std::sync::{Arc, OnceLock};

use wgpu::{Backends, DeviceType, Features, Limits};

/// A device ready for compute work, with what its adapter offers.
pub struct Gpu {
    pub(crate) device: wgpu::Device,
    pub(crate) queue: wgpu::Queue,
    /// What the adapter is and what it can do.
    pub info: GpuInfo,
}

/// An adapter's identity, limits and capabilities.
#[derive(Debug, Clone)]
pub struct GpuInfo {
    /// Adapter name, e.g. "NVIDIA H100" or "llvmpipe (LLVM 15.0.6, 256 bits)".
    pub name: String,
    /// Graphics API: vulkan, metal, dx12, gl.
    pub backend: String,
    /// Discrete, integrated, virtual or cpu (a software rasteriser such as lavapipe).
    pub device_type: String,
    /// Driver name and version.
    pub driver: String,
    /// Whether shaders may use f64 (the adapter has `SHADER_F64`).
    pub f64: bool,
    /// Largest buffer, in bytes.
    pub max_buffer_size: u64,
    /// Largest storage buffer one binding may see, in bytes.
    pub max_storage_binding: u64,
    /// Most invocations per workgroup.
    pub max_workgroup_invocations: u32,
    /// Largest workgroup size per dimension (x, y, z).
    pub max_workgroup_size: [u32; 3],
    /// Most workgroups per dispatch dimension.
    pub max_workgroups_per_dimension: u32,
    /// Whether the adapter is a hardware GPU (not a CPU software implementation).
    pub hardware: bool,
}

impl fmt::Display for GpuInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mib = |b: u64| b / (1 << 20);
        writeln!(f, "adapter: {}", self.name)?;
        writeln!(f, "backend: {}", self.backend)?;
        writeln!(f, "type: {}", self.device_type)?;
        writeln!(f, "driver: {}", self.driver)?;
        writeln!(f, "f64 in shaders: {}", if self.f64 { "yes" } else { "no" })?;
        writeln!(f, "max buffer: {} MiB", mib(self.max_buffer_size))?;
        writeln!(
            f,
            "max storage binding: {} MiB",
            mib(self.max_storage_binding)
        )?;
        let [x, y, z] = self.max_workgroup_size;
        writeln!(
            f,
            "max workgroup: {} invocations, size {x}x{y}x{z}, {} per dispatch dimension",
            self.max_workgroup_invocations, self.max_workgroups_per_dimension
        )
    }
}

/// The shared GPU, discovered and opened on first call; `Err` says why there is none.
pub fn gpu() -> Result<&'static Gpu, String> {
    static GPU: OnceLock<Result<Gpu, String>> = OnceLock::new();
    GPU.get_or_init(open).as_ref().map_err(Clone::clone)
}

/// The shared GPU's description, or why there is none.
pub fn info() -> Result<GpuInfo, String> {
    gpu().map(|g| g.info.clone())
}

/// The backend sets to try in order: `WGPU_BACKEND` alone when set, else the native APIs
/// (Vulkan, Metal, DX12), then GL.
fn backend_order() -> Vec<Backends> {
    match Backends::from_env() {
        Some(b) => vec![b],
        None => vec![Backends::PRIMARY, Backends::GL],
    }
}

fn open() -> Result<Gpu, String> {
    let mut reasons = Vec::new();
    for backends in backend_order() {
        if backends.is_empty() {
            reasons.push("WGPU_BACKEND names no known backend".to_string());
            continue;
        }
        let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
        desc.backends = backends;
        let instance = wgpu::Instance::new(desc);
        let options = wgpu::RequestAdapterOptions {
            power_preference: wgpu::PowerPreference::HighPerformance,
            ..Default::default()
        };
        match pollster::block_on(instance.request_adapter(&options)) {
            Ok(adapter) => return open_device(adapter),
            Err(e) => reasons.push(format!("{backends:?}: {e}")),
        }
    }
    Err(reasons.join("; "))
}

fn open_device(adapter: wgpu::Adapter) -> Result<Gpu, String> {
    let adapter_info = adapter.get_info();
    let features = adapter.features();
    let limits = adapter.limits();
    // Ask for the adapter's own limits (buffer sizes above the WebGPU defaults) and f64
    // where it exists.
    let required_features = features & Features::SHADER_F64;
    let desc = wgpu::DeviceDescriptor {
        label: Some("quiver"),
        required_features,
        required_limits: limits.clone(),
        ..Default::default()
    };
    let (device, queue) = pollster::block_on(adapter.request_device(&desc))
        .map_err(|e| format!("adapter {}: {e}", adapter_info.name))?;
    // Errors outside an error scope would otherwise panic; kernels use scopes, so anything
    // reaching here is logged.
    device.on_uncaptured_error(Arc::new(|e| log::error!("wgpu: {e}")));
    Ok(Gpu {
        device,
        queue,
        info: describe(&adapter_info, features, &limits),
    })
}

fn describe(info: &wgpu::AdapterInfo, features: Features, limits: &Limits) -> GpuInfo {
    let device_type = match info.device_type {
        DeviceType::DiscreteGpu => "discrete GPU",
        DeviceType::IntegratedGpu => "integrated GPU",
        DeviceType::VirtualGpu => "virtual GPU",
        DeviceType::Cpu => "cpu (software)",
        DeviceType::Other => "other",
    };
    GpuInfo {
        name: info.name.clone(),
        backend: info.backend.to_string(),
        device_type: device_type.to_string(),
        driver: format!("{} {}", info.driver, info.driver_info)
            .trim()
            .to_string(),
        f64: features.contains(Features::SHADER_F64),
        max_buffer_size: limits.max_buffer_size,
        max_storage_binding: limits.max_storage_buffer_binding_size,
        max_workgroup_invocations: limits.max_compute_invocations_per_workgroup,
        max_workgroup_size: [
            limits.max_compute_workgroup_size_x,
            limits.max_compute_workgroup_size_y,
            limits.max_compute_workgroup_size_z,
        ],
        max_workgroups_per_dimension: limits.max_compute_workgroups_per_dimension,
        hardware: !matches!(info.device_type, DeviceType::Cpu),
    }
}
