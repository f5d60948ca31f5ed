//! `vanish check` as a library: a suite of small networks trained three steps on the GPU engine and on
//! the f64 reference from the same weights, every tensor compared against a stated tolerance. This is
//! how a user verifies vanish on their own GPU and driver; tests call it on a slice of the suite.

mod compare;
mod run;
mod suite;
pub mod tolerance;

pub use compare::{TensorCheck, compare};
pub use run::{CaseResult, CheckReport, run_case, run_case_async, run_suite, run_suite_async};
pub use suite::{ADAM, Case, SEED, SGD, STEPS, WIDTH, full_suite, quick_suite};
