//! vanish: train multilayer perceptrons with WGSL compute shaders on wgpu, measure how the gradient
//! that reaches each layer shrinks with depth, and check every GPU number against a CPU reference.

pub mod bench;
pub mod check;
// The command line is native: a web page calls the library (`demo`, `train`, `sweep`) directly.
#[cfg(not(target_arch = "wasm32"))]
pub mod cli;
pub mod data;
pub mod defaults;
pub mod demo;
pub mod engine;
pub mod gpu;
pub mod histogram;
pub mod interchange;
pub mod interrupt;
pub mod mean_field;
pub mod memory;
pub mod model;
pub mod output;
pub mod record;
pub mod reference;
pub mod report;
pub mod rng;
mod serde_string;
pub mod sweep;
pub mod text;
pub mod train;
