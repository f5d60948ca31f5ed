//! The WGSL sources, one file per kernel family, compiled into the binary with `include_str!`.

/// A WGSL file in `shaders/`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Shader {
    Matmul,
    Activation,
    BatchNorm,
    Loss,
    Optim,
    Reduce,
    Step,
    Fused,
    /// The per-lane fused kernel's template; `fused_lanes.rs` fills it in for a model shape.
    FusedLanes,
    Dense,
}

impl Shader {
    pub const ALL: [Shader; 10] = [
        Shader::Matmul,
        Shader::Activation,
        Shader::BatchNorm,
        Shader::Loss,
        Shader::Optim,
        Shader::Reduce,
        Shader::Step,
        Shader::Fused,
        Shader::FusedLanes,
        Shader::Dense,
    ];

    pub fn file_name(self) -> &'static str {
        match self {
            Shader::Matmul => "matmul.wgsl",
            Shader::Activation => "activation.wgsl",
            Shader::BatchNorm => "batchnorm.wgsl",
            Shader::Loss => "loss.wgsl",
            Shader::Optim => "optim.wgsl",
            Shader::Reduce => "reduce.wgsl",
            Shader::Step => "step.wgsl",
            Shader::Fused => "fused.wgsl",
            Shader::FusedLanes => "fused_lanes.wgsl",
            Shader::Dense => "dense.wgsl",
        }
    }

    pub fn source(self) -> &'static str {
        match self {
            Shader::Matmul => include_str!("../../shaders/matmul.wgsl"),
            Shader::Activation => include_str!("../../shaders/activation.wgsl"),
            Shader::BatchNorm => include_str!("../../shaders/batchnorm.wgsl"),
            Shader::Loss => include_str!("../../shaders/loss.wgsl"),
            Shader::Optim => include_str!("../../shaders/optim.wgsl"),
            Shader::Reduce => include_str!("../../shaders/reduce.wgsl"),
            Shader::Step => include_str!("../../shaders/step.wgsl"),
            Shader::Fused => include_str!("../../shaders/fused.wgsl"),
            Shader::FusedLanes => include_str!("../../shaders/fused_lanes.wgsl"),
            Shader::Dense => include_str!("../../shaders/dense.wgsl"),
        }
    }
}
