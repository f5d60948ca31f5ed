//! Elementwise and reduction kernels in GB/s: the bytes each must move divided by its time.

use serde::Serialize;

use super::{BenchError, BenchOptions, Spread, max_error};
use crate::gpu::timing::Clock;
use crate::gpu::{Dispatch, Gpu, activation, reduce};
use crate::model::Activation;
use crate::reference;

#[derive(Clone, Debug, Serialize)]
pub struct BandwidthRow {
    pub kernel: String,
    pub elements: usize,
    /// Bytes read and written per run.
    pub bytes: usize,
    pub gbps: Spread,
    pub max_error: f64,
    pub clock: Clock,
}

fn timed(
    gpu: &Gpu,
    kernel: &str,
    d: &Dispatch,
    (elements, bytes): (usize, usize),
    err: f64,
    opts: &BenchOptions,
) -> Result<BandwidthRow, BenchError> {
    if err > 1.0 {
        return Err(BenchError::Invalid { what: kernel.into(), detail: format!("error {err:.2} × the tolerance") });
    }
    gpu.time_dispatches(&[d], 1)?;
    let (times, clock) = gpu.time_dispatches(&[d], opts.reps())?;
    let gbps = Spread::of(&times).map(|t| bytes as f64 / t / 1e9);
    Ok(BandwidthRow { kernel: kernel.into(), elements, bytes, gbps, max_error: err, clock })
}

pub fn bandwidth_section(gpu: &Gpu, opts: &BenchOptions) -> Result<Vec<BandwidthRow>, BenchError> {
    let (m, n) = if opts.quick { (1024, 256) } else { (4096, 1024) };
    let len = m * n;
    let z: Vec<f32> = (0..len).map(|i| ((i * 7919) % 2001) as f32 / 500.0 - 2.0).collect();
    let z64: Vec<f64> = z.iter().map(|&v| v as f64).collect();
    let bias = vec![0.25f32; n];
    let mut rows = Vec::new();

    // Fused bias + sigmoid: reads z, writes z + b and a.
    let (gz, gb, ga) = (gpu.upload("z", &z)?, gpu.upload("bias", &bias)?, gpu.tensor("a", len)?);
    let d = activation::bias_activation_forward(gpu, &gz, &ga, Some(&gb), (m, n), Activation::Sigmoid)?;
    gpu.run(&[&d])?;
    let want: Vec<f64> = z64.iter().map(|&v| reference::activation(v + 0.25, Activation::Sigmoid)).collect();
    let err = max_error(&gpu.read(&ga)?, &want, 1e-6);
    rows.push(timed(gpu, "bias_activation_forward (sigmoid)", &d, (len, 12 * len), err, opts)?);
    // The timed runs repeated the in-place bias add: restore z for the kernels below.
    gpu.write(&gz, &z);

    // Activation backward: reads da, z, a, writes dz.
    let gdz = gpu.tensor("dz", len)?;
    let d = activation::activation_backward(gpu, &gdz, &gz, &gz, &ga, (m, n), Activation::Tanh)?;
    gpu.write(&ga, &z.iter().map(|&v| v.tanh()).collect::<Vec<_>>());
    gpu.run(&[&d])?;
    let want: Vec<f64> = z64.iter().map(|&v| v * (1.0 - (v as f32).tanh() as f64 * (v as f32).tanh() as f64)).collect();
    let err = max_error(&gpu.read(&gdz)?, &want, 1e-6);
    rows.push(timed(gpu, "activation_backward (tanh)", &d, (len, 16 * len), err, opts)?);

    // Column sums (the bias gradient): reads dz once.
    let gdb = gpu.tensor("db", n)?;
    let d = reduce::bias_backward(gpu, &gdb, &gz, (m, n))?;
    gpu.run(&[&d])?;
    let mut want = vec![0.0; n];
    reference::bias_backward(&mut want, &z64, m, n);
    let err = max_error(&gpu.read(&gdb)?, &want, 4.0 * m as f64 * f32::EPSILON as f64 * 2.0);
    rows.push(timed(gpu, "bias_backward (column sums)", &d, (len, 4 * len), err, opts)?);

    // Per-tensor norms over an arena: 16 segments.
    let seg = len / 16;
    let table: Vec<u32> = (0..16).flat_map(|s| [(s * seg) as u32, seg as u32]).collect();
    let (gs, out) = (gpu.upload("segments", &table)?, gpu.tensor("norms", 32)?);
    let d = reduce::segment_stats(gpu, &out, &gz, &gs, 16)?;
    gpu.run(&[&d])?;
    let segments: Vec<(usize, usize)> = (0..16).map(|s| (s * seg, seg)).collect();
    let want: Vec<f64> = reference::segment_stats(&z64, &segments).iter().flat_map(|&(a, b)| [a, b]).collect();
    let err = max_error(&gpu.read(&out)?, &want, 1e-3);
    rows.push(timed(gpu, "segment_stats (16 tensors)", &d, (len, 4 * len), err, opts)?);
    Ok(rows)
}
