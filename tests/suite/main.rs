//! vanish's integration tests, one binary: each module is one concern (its first line says which); the
//! helpers they share are in `common`. One binary instead of one per file links the library and its
//! dependencies once (a per-file binary was ~25 MB and linked on its own).

mod common;

mod bad_input;
mod bench;
mod check;
mod cli;
mod data;
mod docs;
mod executor;
mod faults;
mod fused_kernels;
mod histograms;
mod interchange;
mod kernels;
mod literature;
mod mean_field;
mod mnist;
mod reference;
mod shaders;
mod slurm;
mod sweep;
mod training;
mod web;
