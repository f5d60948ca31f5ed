//! The `Gpu` context: one wgpu instance, adapter, device and queue, chosen by a `DeviceRequest`, with a
//! cache of compiled pipelines. Every other part of `src/gpu/` borrows it; nothing outside `src/gpu/`
//! calls wgpu directly.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;

use super::error::GpuError;
use super::shaders::Shader;
use super::tensor::Tensor;

/// Which adapter to use.
#[derive(Clone, Debug, Default)]
pub struct DeviceRequest {
    /// Only adapters whose name (case-insensitive) contains this substring.
    pub adapter: Option<String>,
}

/// What `vanish devices` prints about an adapter: identity and the limits that bound model size.
#[derive(Clone, Debug, Serialize)]
pub struct AdapterSummary {
    pub name: String,
    pub device_type: String,
    pub backend: String,
    pub driver: String,
    pub driver_info: String,
    pub max_storage_buffer_binding_size: u64,
    pub max_buffer_size: u64,
    pub max_compute_workgroup_storage_size: u32,
    pub max_compute_invocations_per_workgroup: u32,
    pub max_compute_workgroups_per_dimension: u32,
    pub subgroups: bool,
    /// The SIMD width the adapter runs invocations at (its subgroup size; a range where it varies).
    pub subgroup_min_size: u32,
    pub subgroup_max_size: u32,
    pub timestamps: bool,
}

impl AdapterSummary {
    fn of(adapter: &wgpu::Adapter) -> Self {
        let info = adapter.get_info();
        let limits = adapter.limits();
        let features = adapter.features();
        AdapterSummary {
            name: info.name,
            device_type: format!("{:?}", info.device_type),
            backend: format!("{:?}", info.backend),
            driver: info.driver,
            driver_info: info.driver_info,
            max_storage_buffer_binding_size: limits.max_storage_buffer_binding_size,
            max_buffer_size: limits.max_buffer_size,
            max_compute_workgroup_storage_size: limits.max_compute_workgroup_storage_size,
            max_compute_invocations_per_workgroup: limits.max_compute_invocations_per_workgroup,
            max_compute_workgroups_per_dimension: limits.max_compute_workgroups_per_dimension,
            subgroups: features.contains(wgpu::Features::SUBGROUP),
            subgroup_min_size: info.subgroup_min_size,
            subgroup_max_size: info.subgroup_max_size,
            timestamps: features.contains(wgpu::Features::TIMESTAMP_QUERY),
        }
    }

    /// A CPU driver (lavapipe, WARP, SwiftShader): it runs a workgroup's SIMD groups one after another
    /// on one thread, not side by side.
    pub fn is_cpu(&self) -> bool {
        self.device_type == format!("{:?}", wgpu::DeviceType::Cpu)
    }

    /// One line: name, type, backend and driver.
    pub fn describe(&self) -> String {
        format!("{} ({}, {}, {} {})", self.name, self.device_type, self.backend, self.driver, self.driver_info)
    }
}

/// The backends to look on. GL is only used when asked for (`--adapter gl` or `VANISH_BACKEND=gl`):
/// through llvmpipe it compiles a kernel orders of magnitude slower than Vulkan does.
#[cfg(not(target_arch = "wasm32"))]
fn backends(request: &DeviceRequest) -> wgpu::Backends {
    let wants_gl = request.adapter.as_deref().is_some_and(|a| a.to_ascii_lowercase().contains("gl"))
        || std::env::var("VANISH_BACKEND").is_ok_and(|b| b.eq_ignore_ascii_case("gl"));
    if wants_gl { wgpu::Backends::GL } else { wgpu::Backends::VULKAN | wgpu::Backends::METAL | wgpu::Backends::DX12 }
}

fn instance(backends: wgpu::Backends) -> wgpu::Instance {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
    desc.backends = backends;
    wgpu::Instance::new(desc)
}

/// Preference order: discrete, integrated, virtual, then software (lavapipe) adapters.
#[cfg(not(target_arch = "wasm32"))]
fn rank(device_type: wgpu::DeviceType) -> u8 {
    match device_type {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Cpu => 3,
        wgpu::DeviceType::Other => 4,
    }
}

/// Every adapter wgpu can see on every backend (GL included), for `vanish devices`.
#[cfg(not(target_arch = "wasm32"))]
pub fn list_adapters() -> Vec<AdapterSummary> {
    let instance = instance(wgpu::Backends::all());
    super::wait::block_on(instance.enumerate_adapters(wgpu::Backends::all())).iter().map(AdapterSummary::of).collect()
}

/// A pipeline is one entry point of one shader with its overridable constants set.
type PipelineKey = (Shader, &'static str, Vec<(&'static str, u32)>);

/// The one GPU context: wgpu handles, the adapter's limits, and compiled pipelines.
pub struct Gpu {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub adapter: AdapterSummary,
    pub limits: wgpu::Limits,
    pub timestamps: bool,
    modules: Mutex<HashMap<Shader, Arc<wgpu::ShaderModule>>>,
    pipelines: Mutex<HashMap<PipelineKey, Arc<wgpu::ComputePipeline>>>,
    /// What this context has done: pipelines compiled, dispatches recorded, submits, bytes read back.
    pipelines_compiled: AtomicU64,
    pub(super) dispatches: Arc<AtomicU64>,
    submits: AtomicU64,
    pub(super) bytes_read_back: AtomicU64,
    /// Errors wgpu reports outside an error scope; the default handler would panic.
    uncaptured: Arc<Mutex<Vec<String>>>,
    /// A one-float buffer bound where a kernel's optional input is absent.
    pub(crate) dummy: Tensor,
    /// Storage buffers that dropped executors handed back, for the next to take (`Gpu::reused_tensor`).
    pub(super) recycled: Mutex<Vec<wgpu::Buffer>>,
    /// The tiled kernels' bind-group and pipeline layouts, made on first use (`Gpu::tiled_layout`).
    /// Indexed by `deep` (`Shader::TiledDeep`'s storage layer table).
    tiled_layout: [std::sync::OnceLock<(wgpu::BindGroupLayout, wgpu::PipelineLayout)>; 2],
}

/// How a lost device's message starts in the error sink.
const DEVICE_LOST: &str = "the GPU device was lost";

impl Gpu {
    /// Picks the best adapter for `request` and opens a device with the adapter's own limits.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn new(request: &DeviceRequest) -> Result<Gpu, GpuError> {
        let backends = backends(request);
        let instance = instance(backends);
        let mut adapters = super::wait::block_on(instance.enumerate_adapters(backends));
        if let Some(want) = &request.adapter {
            let want = want.to_ascii_lowercase();
            let names: Vec<String> = adapters.iter().map(|a| a.get_info().name).collect();
            adapters.retain(|a| {
                let info = a.get_info();
                let text = format!("{} {:?}", info.name, info.backend).to_ascii_lowercase();
                text.contains(&want)
            });
            if adapters.is_empty() && !names.is_empty() {
                return Err(GpuError::NoMatchingAdapter { wanted: want, available: names });
            }
        }
        adapters.sort_by_key(|a| rank(a.get_info().device_type));
        let adapter = adapters.into_iter().next().ok_or(GpuError::NoAdapter)?;
        super::wait::block_on(Self::open(adapter))
    }

    /// The browser's WebGPU adapter (`navigator.gpu`), awaited: `NoAdapter` where the page has none.
    /// Browsers keep the adapter's name from wgpu; `name` (the page's reading of `GPUAdapter.info`)
    /// names it instead.
    #[cfg(target_arch = "wasm32")]
    pub async fn new_web(name: &str) -> Result<Gpu, GpuError> {
        let instance = instance(wgpu::Backends::BROWSER_WEBGPU);
        let options = wgpu::RequestAdapterOptions {
            power_preference: wgpu::PowerPreference::HighPerformance,
            ..Default::default()
        };
        let adapter = instance.request_adapter(&options).await.map_err(|_| GpuError::NoAdapter)?;
        let mut gpu = Self::open(adapter).await?;
        if gpu.adapter.name.trim().is_empty() {
            gpu.adapter.name = name.to_string();
        }
        Ok(gpu)
    }

    async fn open(adapter: wgpu::Adapter) -> Result<Gpu, GpuError> {
        let summary = AdapterSummary::of(&adapter);
        let limits = adapter.limits();
        let timestamps = adapter.features().contains(wgpu::Features::TIMESTAMP_QUERY);
        let required_features = if timestamps { wgpu::Features::TIMESTAMP_QUERY } else { wgpu::Features::empty() };
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("vanish"),
                required_features,
                required_limits: limits.clone(),
                ..Default::default()
            })
            .await
            .map_err(|e| GpuError::Device(e.to_string()))?;
        let uncaptured = Arc::new(Mutex::new(Vec::new()));
        let sink = uncaptured.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            sink.lock().expect("error sink").push(e.to_string());
        }));
        // A lost device (driver reset, GPU removed, out of memory on some drivers) fails the next check
        // with a message instead of hanging or panicking in a later call.
        let sink = uncaptured.clone();
        device.set_device_lost_callback(move |reason, message| {
            let why = if reason == wgpu::DeviceLostReason::Destroyed { "destroyed".into() } else { message };
            sink.lock().expect("error sink").push(format!("{DEVICE_LOST} ({why})"));
        });
        let dummy = Tensor::whole(device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("dummy"),
            size: 256,
            usage: wgpu::BufferUsages::STORAGE,
            mapped_at_creation: false,
        }));
        Ok(Gpu {
            device,
            queue,
            adapter: summary,
            limits,
            timestamps,
            modules: Mutex::new(HashMap::new()),
            pipelines: Mutex::new(HashMap::new()),
            pipelines_compiled: AtomicU64::new(0),
            dispatches: Arc::new(AtomicU64::new(0)),
            submits: AtomicU64::new(0),
            bytes_read_back: AtomicU64::new(0),
            uncaptured,
            dummy,
            recycled: Mutex::new(Vec::new()),
            tiled_layout: Default::default(),
        })
    }

    /// The tiled kernels' layouts: one bind group serves every entry point, binding 0 (`Pass`, 16
    /// bytes) read at a dynamic offset so that one bind group and one buffer of records say which layer
    /// and mode each dispatch is; then the tables (uniform), the data (read-only) and the rest.
    /// `deep`: the layer table (binding 2) is a read-only storage buffer (`Shader::TiledDeep`).
    pub(crate) fn tiled_layout(&self, deep: bool) -> &(wgpu::BindGroupLayout, wgpu::PipelineLayout) {
        self.tiled_layout[deep as usize].get_or_init(|| {
            let entry = |binding: u32, ty: wgpu::BindingType| wgpu::BindGroupLayoutEntry {
                binding,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty,
                count: None,
            };
            let uniform = |dynamic: bool, min: Option<u64>| wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Uniform,
                has_dynamic_offset: dynamic,
                min_binding_size: min.and_then(std::num::NonZeroU64::new),
            };
            let storage = |read_only: bool| wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Storage { read_only },
                has_dynamic_offset: false,
                min_binding_size: None,
            };
            let layers = if deep { storage(true) } else { uniform(false, None) };
            let mut entries = vec![entry(0, uniform(true, Some(16))), entry(1, uniform(false, None)), entry(2, layers)];
            entries.extend((3..5).map(|b| entry(b, storage(true))));
            entries.extend((5..10).map(|b| entry(b, storage(false))));
            let group = self
                .device
                .create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor { label: Some("tiled"), entries: &entries });
            let pipeline = self.device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some("tiled"),
                bind_group_layouts: &[Some(&group)],
                immediate_size: 0,
            });
            (group, pipeline)
        })
    }

    /// The compute pipeline for `entry` in `shader`, compiled on first use and cached. Bind-group
    /// layouts are derived from the shader, so a launcher's bindings must match what the entry uses;
    /// the tiled kernels share one explicit layout (`tiled_layout`).
    pub(crate) fn pipeline(
        &self,
        shader: Shader,
        entry: &'static str,
        overrides: &[(&'static str, u32)],
    ) -> Result<Arc<wgpu::ComputePipeline>, GpuError> {
        let key = (shader, entry, overrides.to_vec());
        if let Some(p) = self.pipelines.lock().expect("pipeline cache").get(&key) {
            return Ok(p.clone());
        }
        let module = self.module(shader)?;
        let constants: Vec<(&str, f64)> = overrides.iter().map(|&(name, v)| (name, f64::from(v))).collect();
        let pipeline = self.scoped(|| {
            self.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(entry),
                layout: match shader {
                    Shader::Tiled => Some(&self.tiled_layout(false).1),
                    Shader::TiledDeep => Some(&self.tiled_layout(true).1),
                    _ => None,
                },
                module: &module,
                entry_point: Some(entry),
                compilation_options: wgpu::PipelineCompilationOptions { constants: &constants, ..Default::default() },
                cache: None,
            })
        })?;
        let pipeline = Arc::new(pipeline);
        self.pipelines_compiled.fetch_add(1, Ordering::Relaxed);
        self.pipelines.lock().expect("pipeline cache").insert(key, pipeline.clone());
        Ok(pipeline)
    }

    /// Compiles the pipelines `wanted` (entry point and overridable constants of `shader`) that are not
    /// cached yet, one thread each: drivers translate and compile on the calling thread, so they run
    /// side by side. (A web page has one thread, and the browser compiles off it anyway.)
    pub(crate) fn prepare_pipelines(
        &self,
        shader: Shader,
        wanted: &[(&'static str, &[(&'static str, u32)])],
    ) -> Result<(), GpuError> {
        self.module(shader)?;
        #[cfg(target_arch = "wasm32")]
        return wanted.iter().try_for_each(|&(entry, overrides)| self.pipeline(shader, entry, overrides).map(|_| ()));
        #[cfg(not(target_arch = "wasm32"))]
        return std::thread::scope(|s| {
            let handles: Vec<_> = wanted
                .iter()
                .map(|&(entry, overrides)| s.spawn(move || self.pipeline(shader, entry, overrides).map(|_| ())))
                .collect();
            handles.into_iter().try_for_each(|h| {
                h.join().unwrap_or_else(|_| Err(GpuError::Wgpu("a pipeline compile panicked".into())))
            })
        });
    }

    fn module(&self, shader: Shader) -> Result<Arc<wgpu::ShaderModule>, GpuError> {
        if let Some(m) = self.modules.lock().expect("module cache").get(&shader) {
            return Ok(m.clone());
        }
        let module = Arc::new(self.scoped(|| {
            self.device.create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(shader.file_name()),
                source: wgpu::ShaderSource::Wgsl(shader.source().into()),
            })
        })?);
        self.modules.lock().expect("module cache").insert(shader, module.clone());
        Ok(module)
    }

    /// The device's loss, once the driver has reported it: every later failure is that.
    pub(super) fn lost(&self) -> Option<String> {
        self.uncaptured.lock().expect("error sink").iter().find(|e| e.starts_with(DEVICE_LOST)).cloned()
    }

    /// Fails with the first error wgpu reported outside a scope since the last check (the device's
    /// loss first: the errors after it are its consequences).
    pub fn check_errors(&self) -> Result<(), GpuError> {
        if let Some(lost) = self.lost() {
            return Err(GpuError::DeviceLost(lost));
        }
        let mut errors = self.uncaptured.lock().expect("error sink");
        match errors.drain(..).next() {
            Some(e) if e.to_lowercase().contains("out of memory") => Err(GpuError::OutOfMemory(e)),
            Some(e) => Err(GpuError::Wgpu(e)),
            None => Ok(()),
        }
    }

    /// Submits one command buffer (every submit goes through here, so it is counted).
    pub fn submit(&self, commands: wgpu::CommandBuffer) {
        self.submits.fetch_add(1, Ordering::Relaxed);
        self.queue.submit([commands]);
    }

    /// Pipelines compiled, dispatches, submits and bytes read back since the context was made.
    pub fn counters(&self) -> crate::engine::Counters {
        crate::engine::Counters {
            pipelines_compiled: self.pipelines_compiled.load(Ordering::Relaxed),
            dispatches: self.dispatches.load(Ordering::Relaxed),
            submits: self.submits.load(Ordering::Relaxed),
            bytes_read_back: self.bytes_read_back.load(Ordering::Relaxed),
        }
    }
}
