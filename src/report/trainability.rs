//! The trainability diagram of Schoenholz et al. (2017): for runs initialised in the mean-field
//! parameterisation (`--sigma-w2`, i.e. `normal-var:σ_w²`), the training accuracy after training over
//! σ_w² × depth, beside the depth scale ξ_c that the theory (`mean_field`) predicts at each σ_w².
//!
//! One panel per configuration that differs only in σ_w², depth and seed, drawn when it has at least two
//! σ_w² and two depths: a diagram needs both axes.

use serde::Serialize;

use super::groups::mean;
use crate::mean_field::MeanField;
use crate::model::{Activation, Init, Norm};
use crate::record::{RunConfig, RunRecord, Varying};

/// One panel: cells of mean training accuracy over seeds after the last epoch, and the theory.
#[derive(Clone, Debug, Serialize)]
pub struct Panel {
    pub label: String,
    pub activation: Activation,
    pub sigma_b2: f64,
    /// The columns, ascending.
    pub sigma_w2: Vec<f64>,
    /// The rows, ascending.
    pub depths: Vec<usize>,
    /// `accuracy[row][column]`: the mean over seeds, `None` where a seed diverged (or no run is there).
    pub accuracy: Vec<Vec<Option<f64>>>,
    /// The theory at each column.
    pub theory: Vec<MeanField>,
    /// The theory between columns too (with the columns, ascending σ_w²): the ξ_c curves' points.
    #[serde(skip)]
    pub curve: Vec<MeanField>,
    pub critical_sigma_w2: Option<f64>,
}

/// Points of the ξ_c curves per gap between columns.
const CURVE_STEPS: usize = 4;

/// Where else the curves are sampled, as multiples of the critical σ_w²: ever closer on both sides.
const NEAR_CRITICAL: [f64; 8] = [0.9, 0.97, 0.99, 0.999, 1.001, 1.01, 1.03, 1.1];

/// A configuration with σ_w², depth and seed taken out: the panel a run belongs to.
fn panel_key(c: &RunConfig) -> String {
    RunConfig { init: Init::NormalVar(1.0), depth: 0, seed: 0, ..c.clone() }.family_id()
}

fn sigma_w2(c: &RunConfig) -> Option<f64> {
    match c.init {
        Init::NormalVar(v) => Some(v),
        _ => None,
    }
}

/// The diagram's panels for `runs` (none if no configuration spans two σ_w² and two depths). The theory is
/// drawn for plain networks only: it describes neither normalised layers nor skip connections.
pub fn panels(runs: &[RunRecord]) -> Vec<Panel> {
    let runs: Vec<&RunRecord> = runs.iter().filter(|r| sigma_w2(&r.config).is_some()).collect();
    let varying = Varying::of(runs.iter().map(|r| &r.config));
    let mut keys: Vec<String> = Vec::new();
    for r in &runs {
        let key = panel_key(&r.config);
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    keys.iter()
        .filter_map(|key| {
            let members: Vec<&RunRecord> = runs.iter().copied().filter(|r| panel_key(&r.config) == *key).collect();
            let mut ws: Vec<f64> = members.iter().filter_map(|r| sigma_w2(&r.config)).collect();
            ws.sort_by(f64::total_cmp);
            ws.dedup();
            let mut depths: Vec<usize> = members.iter().map(|r| r.config.depth).collect();
            depths.sort_unstable();
            depths.dedup();
            if ws.len() < 2 || depths.len() < 2 {
                return None;
            }
            let first = &members[0].config;
            let sigma_b2 = first.bias_init.variance();
            let accuracy = depths
                .iter()
                .map(|&d| {
                    ws.iter()
                        .map(|&w| {
                            // A cell with a diverged seed has no accuracy: the mean of the others would
                            // flatter a partly trainable configuration.
                            let cell: Vec<&&RunRecord> = members
                                .iter()
                                .filter(|r| r.config.depth == d && sigma_w2(&r.config) == Some(w))
                                .collect();
                            if cell.iter().any(|r| r.diverged.is_some()) {
                                return None;
                            }
                            mean(cell.iter().map(|r| r.last().accuracy))
                        })
                        .collect()
                })
                .collect();
            let plain = first.norm == Norm::None && first.residual.is_none();
            let theory_at = |w: f64| plain.then(|| MeanField::at_point(&first.activation, w, sigma_b2).ok()).flatten();
            let theory: Vec<MeanField> = ws.iter().filter_map(|&w| theory_at(w)).collect();
            let critical = plain.then(|| crate::mean_field::critical_sigma_w2(&first.activation, sigma_b2)).flatten();
            // The columns and three points between each pair, so the curves bend where ξ_c does, and points
            // closing in on the critical line from both sides, where ξ_c diverges.
            let (lo, hi) = (ws[0], ws[ws.len() - 1]);
            let mut points: Vec<f64> = ws
                .windows(2)
                .flat_map(|p| (0..CURVE_STEPS).map(move |k| p[0] + (p[1] - p[0]) * k as f64 / CURVE_STEPS as f64))
                .chain([hi])
                .chain(
                    critical.into_iter().flat_map(|c| NEAR_CRITICAL.map(|f| c * f)).filter(|w| (lo..=hi).contains(w)),
                )
                .collect();
            points.sort_by(f64::total_cmp);
            let curve = points.into_iter().filter_map(theory_at).collect();
            let label_of = RunConfig { init: Init::GlorotUniform, ..first.clone() };
            let label = label_of.family_label(&Varying { init: false, bias_init: false, ..varying });
            Some(Panel {
                label,
                activation: first.activation,
                sigma_b2,
                sigma_w2: ws,
                depths,
                accuracy,
                theory,
                curve,
                critical_sigma_w2: critical,
            })
        })
        .collect()
}
