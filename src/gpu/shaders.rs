//! The WGSL sources, one file per kernel family, compiled into the binary with `include_str!`. The
//! maths every training kernel shares (activations, losses, optimiser updates) is one file,
//! `shaders/maths.wgsl`, put before each kernel that uses it: WGSL has no `#include`.

/// A WGSL file in `shaders/`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Shader {
    Matmul,
    Activation,
    BatchNorm,
    LayerNorm,
    Loss,
    Optim,
    Reduce,
    Step,
    Fused,
    Dense,
    Tiled,
    /// The fused and the tiled kernels with the layer table in a storage buffer, for a model deeper than
    /// the uniform table holds (`MAX_LAYERS`): a CPU driver reads it more slowly, so only such batches
    /// use them.
    FusedDeep,
    TiledDeep,
    Histogram,
}

/// The prelude's file name, for messages and tests.
pub const PRELUDE_FILE: &str = "maths.wgsl";

/// The prelude: activations forward and backward, losses from logits, optimiser updates.
pub const PRELUDE: &str = include_str!("../../shaders/maths.wgsl");

/// The batch kernels' shared declarations: the model and layer tables, the probe's statistics and the
/// workgroup's sums.
pub const BATCH_FILE: &str = "batch.wgsl";
pub const BATCH: &str = include_str!("../../shaders/batch.wgsl");

/// The constants the host and the batch kernels share, as WGSL: written once, in Rust, and put before
/// `batch.wgsl` (the tables' sizes, the pass modes, the reductions' and the tiled kernels' shapes).
pub fn shared_constants() -> String {
    use super::{batch, tiled};
    let constants = [
        ("MAX_MODELS", batch::MAX_MODELS as u32),
        ("MAX_LAYERS", batch::MAX_LAYERS as u32),
        ("MODE_TRAIN", batch::MODE_TRAIN),
        ("MODE_PROBE", batch::MODE_PROBE),
        ("MODE_EVAL_TRAIN", batch::MODE_EVAL_TRAIN),
        ("MODE_EVAL_TEST", batch::MODE_EVAL_TEST),
        ("MODE_BESIDE", batch::MODE_BESIDE),
        ("LOSS_BINARY", batch::LOSS_BINARY),
        ("LOSS_SOFTMAX", batch::LOSS_SOFTMAX),
        ("LOSS_SIGMOID_CE", batch::LOSS_SIGMOID_CE),
        ("REDUCTION_SUMS", batch::REDUCTION_SUMS as u32),
        ("REDUCTION_FLOATS", batch::REDUCTION_FLOATS as u32),
        ("TILE", tiled::TILE as u32),
        ("GROUP", tiled::GROUP as u32),
        ("STEP_SLOT", tiled::STEP_SLOT as u32),
        ("HIST_BINS", crate::histogram::HIST_BINS as u32),
        ("HIST_RANGE_RMS", crate::histogram::HIST_RANGE_RMS),
    ];
    let mut s = String::from("// The constants src/gpu/shaders.rs shares with the host (`shared_constants`).\n");
    for (name, value) in constants {
        s += &format!("const {name}: u32 = {value}u;\n");
    }
    s
}

/// batch.wgsl's layer table as a uniform buffer, and as `Shader::TiledDeep` declares it instead.
pub const UNIFORM_LAYERS: &str = "@group(0) @binding(2) var<uniform> layers: array<LayerDesc, MAX_LAYERS>;";
pub const STORAGE_LAYERS: &str = "@group(0) @binding(2) var<storage, read> layers: array<LayerDesc>;";

/// A kernel file composed after the prelude.
macro_rules! with_prelude {
    ($file:literal) => {
        concat!(include_str!("../../shaders/maths.wgsl"), "\n", include_str!(concat!("../../shaders/", $file)))
    };
}

impl Shader {
    pub const ALL: [Shader; 14] = [
        Shader::Matmul,
        Shader::Activation,
        Shader::BatchNorm,
        Shader::LayerNorm,
        Shader::Loss,
        Shader::Optim,
        Shader::Reduce,
        Shader::Step,
        Shader::Fused,
        Shader::FusedDeep,
        Shader::Dense,
        Shader::Tiled,
        Shader::TiledDeep,
        Shader::Histogram,
    ];

    pub fn file_name(self) -> &'static str {
        match self {
            Shader::Matmul => "matmul.wgsl",
            Shader::Activation => "activation.wgsl",
            Shader::BatchNorm => "batchnorm.wgsl",
            Shader::LayerNorm => "layernorm.wgsl",
            Shader::Loss => "loss.wgsl",
            Shader::Optim => "optim.wgsl",
            Shader::Reduce => "reduce.wgsl",
            Shader::Step => "step.wgsl",
            Shader::Fused | Shader::FusedDeep => "fused.wgsl",
            Shader::Dense => "dense.wgsl",
            Shader::Tiled | Shader::TiledDeep => "tiled.wgsl",
            Shader::Histogram => "histogram.wgsl",
        }
    }

    /// Whether the kernel is composed after the prelude.
    pub fn uses_prelude(self) -> bool {
        matches!(
            self,
            Shader::Activation
                | Shader::BatchNorm
                | Shader::LayerNorm
                | Shader::Loss
                | Shader::Optim
                | Shader::Fused
                | Shader::FusedDeep
                | Shader::Dense
                | Shader::Tiled
                | Shader::TiledDeep
        )
    }

    /// The kernel with the uniform layer table of which this is the storage-table variant, if it is one.
    pub fn shallow(self) -> Option<Shader> {
        match self {
            Shader::FusedDeep => Some(Shader::Fused),
            Shader::TiledDeep => Some(Shader::Tiled),
            _ => None,
        }
    }

    /// Whether the kernel is composed after the batch's shared declarations too.
    pub fn uses_batch(self) -> bool {
        matches!(self, Shader::Fused | Shader::FusedDeep | Shader::Tiled | Shader::TiledDeep)
    }

    /// The module as compiled: for the batch kernels the prelude, the shared constants, `batch.wgsl` and
    /// the file; the shared constants and the file for the histograms; the prelude and the file for the
    /// other kernels that use it; the file otherwise.
    pub fn source(self) -> String {
        if matches!(self, Shader::FusedDeep | Shader::TiledDeep) {
            let batch = BATCH.replace(UNIFORM_LAYERS, STORAGE_LAYERS);
            return format!("{PRELUDE}\n{}\n{batch}\n{}", shared_constants(), self.file());
        }
        if self.uses_batch() {
            return format!("{PRELUDE}\n{}\n{BATCH}\n{}", shared_constants(), self.file());
        }
        if self == Shader::Histogram {
            return format!("{}\n{}", shared_constants(), self.file());
        }
        self.file().to_string()
    }

    /// The file's text as `source` composes it, before the batch's declarations.
    fn file(self) -> &'static str {
        match self {
            Shader::Matmul => include_str!("../../shaders/matmul.wgsl"),
            Shader::Activation => with_prelude!("activation.wgsl"),
            Shader::BatchNorm => with_prelude!("batchnorm.wgsl"),
            Shader::LayerNorm => with_prelude!("layernorm.wgsl"),
            Shader::Loss => with_prelude!("loss.wgsl"),
            Shader::Optim => with_prelude!("optim.wgsl"),
            Shader::Reduce => include_str!("../../shaders/reduce.wgsl"),
            Shader::Step => include_str!("../../shaders/step.wgsl"),
            Shader::Fused | Shader::FusedDeep => include_str!("../../shaders/fused.wgsl"),
            Shader::Dense => with_prelude!("dense.wgsl"),
            Shader::Tiled | Shader::TiledDeep => include_str!("../../shaders/tiled.wgsl"),
            Shader::Histogram => include_str!("../../shaders/histogram.wgsl"),
        }
    }
}
