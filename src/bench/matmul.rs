//! Matmul GFLOP/s for every variant over a shape table, beside a tuned CPU sgemm (matrixmultiply) as
//! this machine's CPU yardstick.

use std::time::Instant;

use serde::Serialize;

use super::{BenchError, BenchOptions, Spread, max_error};
use crate::data::Dataset;
use crate::engine::{Engine, ModelJob, Optimizer, Split, TrainConfig};
use crate::gpu::matmul::{MatmulVariant, matmul};
use crate::gpu::timing::Clock;
use crate::gpu::{Executor, Gpu, KernelClass, Tensor};
use crate::model::{Activation, MlpSpec, Output, Params};
use crate::reference::{self, CpuEngine};
use crate::rng::{Stream, rng};

#[derive(Clone, Debug, Serialize)]
pub struct MatmulRow {
    /// `(m, k, n)`.
    pub shape: (usize, usize, usize),
    pub variant: String,
    pub gflops: Spread,
    /// Largest relative error against the reference (f64, or f32 sgemm for the largest shapes).
    pub max_error: f64,
    pub clock: Option<Clock>,
}

/// The shapes: square, the MLP's own (the notebook's batch 32 and 670 by 10 units, a wide layer), and
/// a deliberately odd one; the largest only on real GPUs.
fn shapes(opts: &BenchOptions) -> Vec<(usize, usize, usize)> {
    let mut s = vec![(64, 64, 64), (256, 256, 256), (32, 10, 10), (670, 10, 10)];
    if !opts.quick {
        s.extend([(512, 512, 512), (128, 784, 256), (256, 1024, 1024)]);
    }
    if opts.real_gpu && !opts.quick {
        s.extend([(1024, 1024, 1024), (4096, 4096, 4096), (1007, 1023, 1005)]);
    }
    s
}

fn uniform(len: usize, seed: u64) -> Vec<f32> {
    use rand::Rng;
    let mut r = rng(seed, Stream::Test);
    (0..len).map(|_| r.random_range(-1.0f32..=1.0)).collect()
}

/// `c = a·b` with matrixmultiply's tuned f32 kernel.
fn sgemm(a: &[f32], b: &[f32], (m, k, n): (usize, usize, usize)) -> Vec<f32> {
    let mut c = vec![0.0f32; m * n];
    // SAFETY: the pointers and strides describe row-major a [m,k], b [k,n] and c [m,n], which the
    // slices above hold exactly; the call neither retains them nor aliases c with a or b.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            a.as_ptr(),
            k as isize,
            1,
            b.as_ptr(),
            n as isize,
            1,
            0.0,
            c.as_mut_ptr(),
            n as isize,
            1,
        );
    }
    c
}

pub fn matmul_section(gpu: &Gpu, opts: &BenchOptions) -> Result<Vec<MatmulRow>, BenchError> {
    let mut rows = Vec::new();
    for (i, &(m, k, n)) in shapes(opts).iter().enumerate() {
        let flop = 2.0 * (m * k * n) as f64;
        let (a, b) = (uniform(m * k, 2 * i as u64), uniform(k * n, 2 * i as u64 + 1));
        // The f64 reference is the oracle up to 256³-sized products; past that, f32 sgemm.
        let want: Vec<f64> = if flop <= 2.0 * 256.0 * 1024.0 * 1024.0 {
            let a64: Vec<f64> = a.iter().map(|&v| v as f64).collect();
            let b64: Vec<f64> = b.iter().map(|&v| v as f64).collect();
            let mut c = vec![0.0; m * n];
            reference::matmul(&mut c, &a64, &b64, m, k, n, false, false);
            c
        } else {
            sgemm(&a, &b, (m, k, n)).iter().map(|&v| v as f64).collect()
        };
        // Same bound as the kernel tests: f32 rounding of a k-term dot product.
        let atol = 4.0 * k as f64 * f32::EPSILON as f64 * ((k as f64).sqrt() + 1.0);
        let (ga, gb): (Tensor, Tensor) = (gpu.upload("a", &a)?, gpu.upload("b", &b)?);
        let gc = gpu.tensor("c", m * n)?;
        for variant in MatmulVariant::ALL {
            if variant == MatmulVariant::Vec4 && (k % 4 != 0 || n % 8 != 0) {
                continue; // it would run the blocked kernel: no row of its own
            }
            let d = matmul(gpu, variant, &gc, &ga, &gb, (m, k, n), false, false)?;
            gpu.run(&[&d])?;
            let err = max_error(&gpu.read(&gc)?, &want, atol);
            let what = format!("matmul_{} {m}×{k}×{n}", variant.name());
            if err > 1.0 {
                return Err(BenchError::Invalid { what, detail: format!("error {err:.2} × the tolerance") });
            }
            gpu.time_dispatches(&[&d], 1)?; // warm-up
            let (times, clock) = gpu.time_dispatches(&[&d], opts.reps())?;
            let gflops = Spread::of(&times).map(|t| flop / t / 1e9);
            rows.push(MatmulRow {
                shape: (m, k, n),
                variant: variant.name().into(),
                gflops,
                max_error: err,
                clock: Some(clock),
            });
        }
        if training_shapes(opts).contains(&(m, k, n)) {
            rows.push(training_kernel(gpu, opts, (m, k, n))?);
        }
        let times: Vec<f64> = (0..opts.reps())
            .map(|_| {
                let start = Instant::now();
                std::hint::black_box(sgemm(&a, &b, (m, k, n)));
                start.elapsed().as_secs_f64()
            })
            .collect();
        let err = max_error(&sgemm(&a, &b, (m, k, n)), &want, atol);
        rows.push(MatmulRow {
            shape: (m, k, n),
            variant: "cpu sgemm (matrixmultiply)".into(),
            gflops: Spread::of(&times).map(|t| flop / t / 1e9),
            max_error: err,
            clock: Some(Clock::WallClock),
        });
    }
    Ok(rows)
}

/// The shapes at which the training path's own product is measured: MNIST's first layer (a batch of
/// 128 rows of 784 pixels into 256 units) and a wide hidden layer.
fn training_shapes(opts: &BenchOptions) -> Vec<(usize, usize, usize)> {
    if opts.quick { vec![] } else { vec![(128, 784, 256), (256, 1024, 1024)] }
}

/// The training path's product at `(m, k, n)`, measured as training runs it: an evaluation of `m` rows
/// by the executor's tiled kernels of a linear model of `k` inputs, one hidden layer of `n` units and
/// one output, whose first layer is the product (the output layer adds `m·n` multiply-adds, 1/k of the
/// total). Checked against the CPU reference's logits of the same model.
fn training_kernel(gpu: &Gpu, opts: &BenchOptions, (m, k, n): (usize, usize, usize)) -> Result<MatmulRow, BenchError> {
    let spec = MlpSpec::new(k, &[n], Activation::Identity, Output::Binary);
    let data = Dataset {
        x: uniform(m * k, 99),
        y: (0..m as u32).map(|i| i % 2).collect(),
        features: k,
        classes: 2,
        feature_names: (0..k).map(|i| format!("x{i}")).collect(),
        class_names: vec!["0".into(), "1".into()],
    };
    let cfg = TrainConfig::new(Optimizer::adam(1e-3), m);
    let params = Params::init(&spec, 0);
    let job = ModelJob { spec: spec.clone(), params: params.clone(), train: &data, test: &data, cfg };
    let mut executor = Executor::new(gpu, std::slice::from_ref(&job), KernelClass::Tiled)?;
    executor.evaluate(Split::Train)?;
    let got: Vec<f32> = executor.logits()?.iter().map(|&v| v as f32).collect();
    let mut cpu = CpuEngine::new(&spec, &params, &data, &data, cfg)?;
    cpu.evaluate(Split::Train)?;
    let want = cpu.logits()?;
    let atol = 4.0 * k as f64 * f32::EPSILON as f64 * ((k as f64).sqrt() + 1.0);
    let err = max_error(&got, &want, atol);
    let what = format!("the training path's product {m}×{k}×{n}");
    if err > 1.0 {
        return Err(BenchError::Invalid { what, detail: format!("error {err:.2} × the tolerance") });
    }
    let times: Vec<f64> = (0..opts.reps())
        .map(|_| {
            let start = Instant::now();
            executor.evaluate(Split::Train).map(|_| start.elapsed().as_secs_f64())
        })
        .collect::<Result<_, _>>()?;
    let flop = 2.0 * (m * k * n) as f64;
    Ok(MatmulRow {
        shape: (m, k, n),
        variant: "training path (tiled, one evaluation)".into(),
        gflops: Spread::of(&times).map(|t| flop / t / 1e9),
        max_error: err,
        clock: Some(Clock::WallClock),
    })
}
