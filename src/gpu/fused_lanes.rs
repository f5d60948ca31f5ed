//! The per-lane fused kernel (`shaders/fused_lanes.wgsl`): one model per invocation, every layer
//! unrolled for one model shape. This module writes the unrolled parts of the kernel for a shape and
//! plans its dispatch; `fused.rs` decides when it runs instead of the per-workgroup kernel.

use std::fmt::Write;

use bytemuck::{Pod, Zeroable};

use super::fused::FusedBuffers;
use super::optim::OptimConsts;
use super::{Dispatch, Gpu, GpuError, Shader, Tensor};
use crate::engine::Optimizer;
use crate::model::{Activation, MlpSpec, ParamLayout};

/// Models per workgroup: the SIMD width CPU drivers run invocations at.
const LANES: usize = 8;

/// The largest model (in parameters, padding excluded) the per-lane kernel is generated for: its
/// code grows with the parameter count, and so does the driver's compile time.
pub const LANES_MAX_PARAMS: usize = 2048;

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct LanesParams {
    models: u32,
    rows_total: u32,
    batch: u32,
    first: u32,
    count: u32,
    param_stride: u32,
    metrics_stride: u32,
    consts: OptimConsts,
    keep_loop: u32,
    _pad: [u32; 2],
}

/// Why the per-lane kernel cannot train `spec`, or `Ok`.
pub fn lanes_fit(spec: &MlpSpec) -> Result<(), String> {
    if spec.batch_norm {
        return Err("batch norm needs a whole batch per layer, which the per-lane kernel does not hold".into());
    }
    let n: usize = spec.layout().params.iter().map(|s| s.len).sum();
    if n > LANES_MAX_PARAMS {
        return Err(format!("{n} parameters; the per-lane kernel is generated for up to {LANES_MAX_PARAMS}"));
    }
    Ok(())
}

/// The generated kernel's text for models of `specs[0]`'s shape. A layer whose activation differs
/// between models reads it per model from the `acts` table; otherwise it is a constant.
pub fn kernel_source(specs: &[MlpSpec], optimizer: &Optimizer) -> String {
    let spec = &specs[0];
    let layout = spec.layout();
    let pieces = layout
        .params
        .iter()
        .flat_map(|t| t.range().step_by(PIECE).map(move |s| s..(s + PIECE).min(t.offset + t.len)))
        .collect();
    let g = Gen { spec, layout: &layout, pieces, specs, adam: matches!(optimizer, Optimizer::Adam { .. }) };
    Shader::FusedLanes
        .source()
        .replace("//%DECLS%", &g.decls())
        .replace("//%LOAD%", &g.load())
        .replace("//%ZERO%", &g.zero())
        .replace("//%ROW%", &g.row())
        .replace("//%UPDATE%", &g.update())
        .replace("//%STORE%", &g.store())
}

/// Indentation of the generated row code.
const IND: &str = "            ";

/// The most floats one private array holds (see `Gen::el`).
const PIECE: usize = 128;

struct Gen<'a> {
    spec: &'a MlpSpec,
    layout: &'a ParamLayout,
    /// The parameter arena's floats as the private arrays hold them: each tensor in pieces of at most
    /// `PIECE` floats.
    pieces: Vec<std::ops::Range<usize>>,
    specs: &'a [MlpSpec],
    adam: bool,
}

impl Gen<'_> {
    fn arrays(&self) -> &'static [&'static str] {
        if self.adam { &["w", "g", "m", "v"] } else { &["w", "g", "m"] }
    }

    /// Whether models differ in layer `i`'s activation.
    fn mixed(&self, i: usize) -> bool {
        self.specs.iter().any(|s| s.activation(i) != self.spec.activation(i))
    }

    /// The activation of layer `i` as WGSL arguments `(code, alpha)`: constants when every model
    /// agrees (the driver then folds `act_forward`'s switch away), the model's table entry otherwise.
    fn act_args(&self, i: usize) -> (String, String) {
        let act = self.spec.activation(i);
        if self.mixed(i) {
            (format!("act{i}.x"), format!("bitcast<f32>(act{i}.y)"))
        } else {
            (format!("{}u", act.code()), format!("{:?}", act.alpha()))
        }
    }

    /// Element `flat` (an offset into the parameter arena) of private array `a`: the arrays are split
    /// into pieces, `w3` holding piece 3 of the weights. The driver's LLVM takes time quadratic in the
    /// uses of one private array: one array for the whole model compiled for minutes.
    fn el(&self, a: &str, flat: usize) -> String {
        let t = self.pieces.iter().position(|p| p.contains(&flat)).expect("a parameter");
        format!("{a}{t}[{}]", flat - self.pieces[t].start)
    }

    fn decls(&self) -> String {
        let mut s = String::new();
        for a in self.arrays() {
            for (t, piece) in self.pieces.iter().enumerate() {
                writeln!(s, "    var {a}{t}: array<f32, {}>;", piece.len()).unwrap();
            }
        }
        for i in 0..self.spec.num_layers() {
            if self.mixed(i) {
                writeln!(s, "    let act{i} = acts[model * {}u + {i}u];", self.spec.num_layers()).unwrap();
            }
        }
        s
    }

    /// Copies (`load`) or writes back (`!load`) one array, piece by piece. Each copy is a loop, its
    /// bound read from the params so that the driver does not unroll it: every access in it is a
    /// per-lane access (a branch per lane in CPU drivers), and thousands of them unrolled make the
    /// driver's compile time explode.
    fn copy(&self, s: &mut String, array: &str, buffer: &str, base: &str, load: bool) {
        for (t, piece) in self.pieces.iter().enumerate() {
            let (off, len) = (piece.start, piece.len());
            let (lhs, rhs) = (format!("{array}{t}[k]"), format!("{buffer}[{base} + {off}u + k]"));
            let (lhs, rhs) = if load { (lhs, rhs) } else { (rhs, lhs) };
            writeln!(s, "    for (var k = 0u; k < {len}u + keep_loop; k++) {{ {lhs} = {rhs}; }}").unwrap();
        }
    }

    fn load(&self) -> String {
        let mut s = String::new();
        self.copy(&mut s, "w", "params", "po", true);
        self.copy(&mut s, "m", "opt", "po", true);
        if self.adam {
            self.copy(&mut s, "v", "opt", "vo", true);
        }
        s
    }

    fn store(&self) -> String {
        let mut s = String::new();
        self.copy(&mut s, "w", "params", "po", false);
        self.copy(&mut s, "g", "grads", "po", false);
        self.copy(&mut s, "m", "opt", "po", false);
        if self.adam {
            self.copy(&mut s, "v", "opt", "vo", false);
        }
        s
    }

    fn zero(&self) -> String {
        let mut s = String::new();
        for (t, piece) in self.pieces.iter().enumerate() {
            for k in 0..piece.len() {
                writeln!(s, "        g{t}[{k}] = 0.0;").unwrap();
            }
        }
        s
    }

    /// One row: gather, forward, loss, backward into the gradient sums. Names: `a_i_k` is unit k of
    /// layer i's input (the row itself for i = 0), `z_i_j` layer i's dense output, `d_i_j` its δ.
    fn row(&self) -> String {
        let mut s = String::new();
        self.forward(&mut s);
        self.loss(&mut s);
        self.backward(&mut s);
        s
    }

    fn forward(&self, s: &mut String) {
        let spec = self.spec;
        let layers = spec.num_layers();
        for k in 0..spec.input {
            writeln!(s, "{IND}let a_0_{k} = xs[src * {}u + {k}u];", spec.input).unwrap();
        }
        for i in 0..layers {
            let (fan_in, fan_out) = spec.layer_dims(i);
            let (w, b) = (self.layout.weight(i).offset, self.layout.bias(i).offset);
            let (code, alpha) = self.act_args(i);
            for j in 0..fan_out {
                write!(s, "{IND}let z_{i}_{j} = {}", self.el("w", b + j)).unwrap();
                for k in 0..fan_in {
                    write!(s, " + {} * a_{i}_{k}", self.el("w", w + j * fan_in + k)).unwrap();
                }
                s.push_str(";\n");
                if i + 1 < layers {
                    writeln!(s, "{IND}let a_{}_{j} = act_forward(z_{i}_{j}, {code}, {alpha});", i + 1).unwrap();
                }
            }
        }
    }

    /// The loss and hit of the row added to the step's sums, and δ of the output layer: the mean
    /// loss's gradient, so divided by the batch's rows.
    fn loss(&self, s: &mut String) {
        let last = self.spec.num_layers() - 1;
        let classes = self.spec.output.width();
        if classes == 1 {
            let z = format!("z_{last}_0");
            writeln!(s, "{IND}let yv = f32(label);").unwrap();
            writeln!(s, "{IND}loss_sum += max({z}, 0.0) - yv * {z} + log(1.0 + exp(-abs({z})));").unwrap();
            writeln!(s, "{IND}hits += select(0.0, 1.0, ({z} > 0.0) == (label == 1u));").unwrap();
            writeln!(s, "{IND}let d_{last}_0 = (sigmoid({z}) - yv) / mf;").unwrap();
        } else {
            writeln!(s, "{IND}var zmax = z_{last}_0;").unwrap();
            writeln!(s, "{IND}var arg = 0u;").unwrap();
            for c in 1..classes {
                writeln!(s, "{IND}if (z_{last}_{c} > zmax) {{ zmax = z_{last}_{c}; arg = {c}u; }}").unwrap();
            }
            write!(s, "{IND}let lse = zmax + log(0.0").unwrap();
            for c in 0..classes {
                write!(s, " + exp(z_{last}_{c} - zmax)").unwrap();
            }
            s.push_str(");\n");
            write!(s, "{IND}var zl = 0.0;").unwrap();
            for c in 0..classes {
                write!(s, " if (label == {c}u) {{ zl = z_{last}_{c}; }}").unwrap();
            }
            s.push('\n');
            writeln!(s, "{IND}loss_sum += lse - zl;").unwrap();
            writeln!(s, "{IND}hits += select(0.0, 1.0, arg == label);").unwrap();
            for c in 0..classes {
                writeln!(
                    s,
                    "{IND}let d_{last}_{c} = (exp(z_{last}_{c} - lse) - select(0.0, 1.0, label == {c}u)) / mf;"
                )
                .unwrap();
            }
        }
    }

    /// dW and db summed into `g`, then δ of the layer below through its activation's derivative.
    fn backward(&self, s: &mut String) {
        let spec = self.spec;
        for i in (0..spec.num_layers()).rev() {
            let (fan_in, fan_out) = spec.layer_dims(i);
            let (w, b) = (self.layout.weight(i).offset, self.layout.bias(i).offset);
            for j in 0..fan_out {
                for k in 0..fan_in {
                    writeln!(s, "{IND}{} += d_{i}_{j} * a_{i}_{k};", self.el("g", w + j * fan_in + k)).unwrap();
                }
                writeln!(s, "{IND}{} += d_{i}_{j};", self.el("g", b + j)).unwrap();
            }
            if i == 0 {
                continue;
            }
            let (code, alpha) = self.act_args(i - 1);
            for k in 0..fan_in {
                write!(s, "{IND}let d_{}_{k} = (0.0", i - 1).unwrap();
                for j in 0..fan_out {
                    write!(s, " + d_{i}_{j} * {}", self.el("w", w + j * fan_in + k)).unwrap();
                }
                writeln!(s, ") * act_grad(z_{}_{k}, a_{i}_{k}, {code}, {alpha});", i - 1).unwrap();
            }
        }
    }

    fn update(&self) -> String {
        let mut s = String::new();
        for (t, piece) in self.pieces.iter().enumerate() {
            for k in 0..piece.len() {
                let [w, g, m, v] = ["w", "g", "m", "v"].map(|a| format!("{a}{t}[{k}]"));
                if self.adam {
                    writeln!(
                        s,
                        "        {m} = b1 * {m} + nb1 * {g}; {v} = b2 * {v} + nb2 * {g} * {g}; \
                         {w} -= alpha * {m} / (sqrt({v}) + eps);"
                    )
                    .unwrap();
                } else {
                    writeln!(s, "        {m} = momentum * {m} + {g}; {w} -= alpha * {m};").unwrap();
                }
            }
        }
        s
    }
}

/// The activation table the kernel reads for layers whose activation differs between models.
fn act_table(specs: &[MlpSpec]) -> Vec<u32> {
    specs
        .iter()
        .flat_map(|s| (0..s.num_layers()).map(|i| s.activation(i)))
        .flat_map(|a: Activation| [a.code(), a.alpha().to_bits()])
        .collect()
}

/// A built per-lane fused dispatch.
pub struct LanesPlan {
    dispatch: Dispatch,
    params: LanesParams,
    _acts: Tensor,
}

impl LanesPlan {
    pub fn new(
        gpu: &Gpu,
        specs: &[MlpSpec],
        optimizer: &Optimizer,
        (rows_total, batch): (usize, usize),
        b: &FusedBuffers<'_>,
    ) -> Result<Self, GpuError> {
        let spec = &specs[0];
        let models = specs.len();
        let layout = spec.layout();
        let steps = rows_total.div_ceil(batch);
        let params = LanesParams {
            models: models as u32,
            rows_total: rows_total as u32,
            batch: batch as u32,
            first: 0,
            count: 0,
            param_stride: layout.param_len as u32,
            metrics_stride: (2 * steps) as u32,
            consts: OptimConsts::of(optimizer),
            keep_loop: 0,
            _pad: [0; 2],
        };
        let acts = gpu.upload("lanes activations", &act_table(specs))?;
        let source = kernel_source(specs, optimizer);
        let tensors = [&acts, b.x, b.y, b.order, b.schedule, b.params, b.grads, b.opt, b.metrics];
        let groups = [models.div_ceil(LANES) as u32, 1, 1];
        let dispatch = gpu.dispatch_generated(source, "fused_lanes", Some(&params), &tensors, groups)?;
        Ok(LanesPlan { dispatch, params, _acts: acts })
    }

    /// The dispatch for steps `first .. first + count`, with its params written.
    pub fn prepare(&self, gpu: &Gpu, first: usize, count: usize) -> &Dispatch {
        let p = LanesParams { first: first as u32, count: count as u32, ..self.params };
        self.dispatch.write_params(gpu, &p);
        &self.dispatch
    }
}
