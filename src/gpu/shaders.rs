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
}

/// The prelude's file name, for messages and tests.
pub const PRELUDE_FILE: &str = "maths.wgsl";

/// The prelude: activations forward and backward, losses from logits, optimiser updates.
pub const PRELUDE: &str = include_str!("../../shaders/maths.wgsl");

/// A batch kernel composed after the prelude and the batch's shared declarations (`batch.wgsl`).
macro_rules! with_batch {
    ($file:literal) => {
        concat!(
            include_str!("../../shaders/maths.wgsl"),
            "\n",
            include_str!("../../shaders/batch.wgsl"),
            "\n",
            include_str!(concat!("../../shaders/", $file))
        )
    };
}

/// The batch kernels' shared declarations: the model and layer tables and the probe's statistics.
pub const BATCH_FILE: &str = "batch.wgsl";
pub const BATCH: &str = include_str!("../../shaders/batch.wgsl");

/// A kernel file composed after the prelude.
macro_rules! with_prelude {
    ($file:literal) => {
        concat!(include_str!("../../shaders/maths.wgsl"), "\n", include_str!(concat!("../../shaders/", $file)))
    };
}

impl Shader {
    pub const ALL: [Shader; 11] = [
        Shader::Matmul,
        Shader::Activation,
        Shader::BatchNorm,
        Shader::LayerNorm,
        Shader::Loss,
        Shader::Optim,
        Shader::Reduce,
        Shader::Step,
        Shader::Fused,
        Shader::Dense,
        Shader::Tiled,
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
            Shader::Fused => "fused.wgsl",
            Shader::Dense => "dense.wgsl",
            Shader::Tiled => "tiled.wgsl",
        }
    }

    /// Whether the kernel is composed after the prelude.
    pub fn uses_prelude(self) -> bool {
        matches!(
            self,
            Shader::Activation | Shader::Loss | Shader::Optim | Shader::Fused | Shader::Dense | Shader::Tiled
        )
    }

    /// Whether the kernel is composed after the batch's shared declarations too.
    pub fn uses_batch(self) -> bool {
        matches!(self, Shader::Fused | Shader::Tiled)
    }

    /// The module as compiled: the prelude and the file for kernels that use it, the file otherwise.
    pub fn source(self) -> &'static str {
        match self {
            Shader::Matmul => include_str!("../../shaders/matmul.wgsl"),
            Shader::Activation => with_prelude!("activation.wgsl"),
            Shader::BatchNorm => include_str!("../../shaders/batchnorm.wgsl"),
            Shader::LayerNorm => include_str!("../../shaders/layernorm.wgsl"),
            Shader::Loss => with_prelude!("loss.wgsl"),
            Shader::Optim => with_prelude!("optim.wgsl"),
            Shader::Reduce => include_str!("../../shaders/reduce.wgsl"),
            Shader::Step => include_str!("../../shaders/step.wgsl"),
            Shader::Fused => with_batch!("fused.wgsl"),
            Shader::Dense => with_prelude!("dense.wgsl"),
            Shader::Tiled => with_batch!("tiled.wgsl"),
        }
    }
}
