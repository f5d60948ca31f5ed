//! Launchers for `shaders/loss.wgsl`: binary, softmax and sigmoid cross-entropy from logits.

use bytemuck::{Pod, Zeroable};

use super::{Dispatch, Gpu, GpuError, Shader, Tensor};
use crate::model::Output;

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct LossParams {
    n: u32,
    k: u32,
    _pad: [u32; 2],
}

/// Mean loss of head `output` over `n` rows of its logits, `dlogits` (overwritten), and into
/// `metrics[2·step]`, `metrics[2·step + 1]` the mean loss and the number of correct predictions, where
/// `step` is read from `state` (see `step.rs`).
#[allow(clippy::too_many_arguments)]
pub fn cross_entropy(
    gpu: &Gpu,
    dlogits: &Tensor,
    metrics: &Tensor,
    logits: &Tensor,
    labels: &Tensor,
    state: &Tensor,
    n: usize,
    output: Output,
) -> Result<Dispatch, GpuError> {
    let p = LossParams { n: n as u32, k: output.width() as u32, _pad: [0; 2] };
    let entry = match output {
        Output::Binary => "bce_with_logits",
        Output::Softmax(_) => "softmax_cross_entropy",
        Output::SigmoidCe(_) => "sigmoid_cross_entropy",
    };
    gpu.dispatch(Shader::Loss, entry, Some(&p), &[logits, labels, state, dlogits, metrics], [1, 1, 1])
}
