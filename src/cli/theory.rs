//! `vanish theory`: the mean-field quantities of an activation at (σ_w², σ_b²), computed in f64
//! (`mean_field`), with no data and no training.

use anyhow::{Result, anyhow};
use clap::Args;

use crate::cli::args::parse_activation;
use crate::mean_field::{MeanField, Phase, theory_json};
use crate::model::Activation;

#[derive(Args, Debug)]
// so that `--sigma-w2 -1` reaches the check that names what is wrong with it
#[command(allow_negative_numbers = true)]
pub struct TheoryArgs {
    /// The activation φ (as for `train`)
    #[arg(long, value_parser = parse_activation, default_value = "tanh")]
    pub activation: Activation,
    /// The weights' variance times fan-in: W ~ N(0, σ_w²/fan_in)
    #[arg(long = "sigma-w2", default_value_t = 1.0)]
    pub sigma_w2: f64,
    /// The biases' variance: b ~ N(0, σ_b²)
    #[arg(long = "sigma-b2", default_value_t = 0.0)]
    pub sigma_b2: f64,
    /// Print JSON instead of a table
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: TheoryArgs) -> Result<()> {
    if args.json {
        let value = theory_json(args.activation, args.sigma_w2, args.sigma_b2).map_err(|e| anyhow!("{e}"))?;
        outln!("{}", serde_json::to_string_pretty(&value)?)?;
        return Ok(());
    }
    let m = MeanField::at(&args.activation, args.sigma_w2, args.sigma_b2).map_err(|e| anyhow!("{e}"))?;
    let show = |v: Option<f64>| v.map_or_else(|| "—".to_string(), |v| format!("{v:.6}"));
    outln!(
        "mean-field theory of {} at σ_w² = {}, σ_b² = {} (W ~ N(0, σ_w²/fan_in), b ~ N(0, σ_b²), infinitely wide layers)",
        args.activation,
        m.sigma_w2,
        m.sigma_b2
    )?;
    outln!("  q*    {:>12}  the pre-activations' variance deep in the network", show(m.q_star))?;
    outln!("  χ₁    {:>12}  per layer, ‖δ‖² is multiplied by χ₁ going down", show(m.chi_1))?;
    outln!("  c*    {:>12}  the correlation two inputs converge to", show(m.c_star))?;
    outln!("  χ_c   {:>12}  the correlation map's slope at c*", show(m.chi_c))?;
    outln!("  ξ_c   {:>12}  layers: correlations reach c* like e^(−depth/ξ_c)", show(m.xi_c))?;
    outln!("  critical σ_w² at σ_b² = {}: {}", m.sigma_b2, show(m.critical_sigma_w2))?;
    let phase = match m.phase {
        Phase::Ordered => "ordered (χ₁ < 1): gradients vanish with depth".to_string(),
        Phase::Chaotic => "chaotic (χ₁ > 1): gradients explode with depth".to_string(),
        Phase::Critical => "critical (χ₁ = 1): gradients keep their size".to_string(),
        Phase::Unbounded => "unbounded: the variance map has no fixed point; activations grow with depth".to_string(),
    };
    outln!("  phase {phase}")?;
    if let Some(xi) = m.xi_c {
        outln!(
            "  Schoenholz et al. (2017) find such networks trainable to about 6ξ_c = {:.0} layers, and 3ξ_c = {:.0} safely",
            6.0 * xi,
            3.0 * xi
        )?;
    }
    Ok(())
}
