//! The verdict on one probe of one run — healthy, vanishing, exploding, saturated or dead — and the
//! layer where the trouble starts, computed from the numbers with the thresholds below (the only place
//! they are defined).

use std::fmt;

use serde::{Deserialize, Serialize};

/// A hidden layer with at least this fraction of dead units (ReLU units that output 0 on every row)
/// passes almost nothing back: the run is `dead`. Not ½: a healthy ReLU layer is inactive on half its
/// values anyway (E[f′²] = ½), and deep in a narrow network the rows' representations grow so correlated
/// that a unit is off for every row about as often as for one — He-initialised ReLU nets of depth 30,
/// width 32 measure ~50–60% dead units in their top layers and still pass ‖δ‖ at ×0.97 per layer.
pub const DEAD_FRACTION: f64 = 0.9;
/// A hidden layer with at least this fraction of saturated values (f′ below 1% of its maximum)
/// passes almost no gradient through them: the run is `saturated`.
pub const SATURATED_FRACTION: f64 = 0.5;
/// `‖δ‖` of the first hidden layer below this fraction of the last hidden layer's: `vanishing`. At 1%
/// the first layer learns a hundred times slower than the last under SGD.
pub const VANISHING_RATIO: f64 = 1e-2;
/// ... above this multiple: `exploding`.
pub const EXPLODING_RATIO: f64 = 1e2;
/// The decay *starts* at the layer nearest the output whose `‖δ‖` has fallen below this fraction of the
/// last hidden layer's (or, when exploding, risen above its inverse): a 20% loss is past the noise of
/// a single layer-to-layer ratio at the widths used here.
pub const ONSET_FRACTION: f64 = 0.8;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum VerdictKind {
    Healthy,
    Vanishing,
    Exploding,
    Saturated,
    Dead,
}

impl fmt::Display for VerdictKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            VerdictKind::Healthy => "healthy",
            VerdictKind::Vanishing => "vanishing",
            VerdictKind::Exploding => "exploding",
            VerdictKind::Saturated => "saturated",
            VerdictKind::Dead => "dead",
        })
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub kind: VerdictKind,
    /// 1-based hidden layer where the trouble starts (none when healthy).
    pub layer: Option<usize>,
    /// One sentence with the numbers behind the verdict.
    pub reason: String,
}

/// What the verdict reads of one hidden layer.
#[derive(Clone, Copy, Debug)]
pub struct HiddenLayer {
    pub delta: f64,
    pub dead: f64,
    pub saturated: f64,
}

/// The verdict for hidden layers `hidden` (first to last; the output layer excluded), checked in order
/// of cause: dead, then saturated, then the size of the decay.
pub fn verdict(hidden: &[HiddenLayer]) -> Verdict {
    let d = hidden.len();
    // Nearest the output first: that is where the backward signal meets the problem first.
    let top_down = |pred: &dyn Fn(&HiddenLayer) -> bool| (0..d).rev().find(|&i| pred(&hidden[i]));
    if let Some(i) = top_down(&|l| l.dead >= DEAD_FRACTION || l.delta == 0.0) {
        return Verdict {
            kind: VerdictKind::Dead,
            layer: Some(i + 1),
            reason: format!(
                "{:.0}% of layer {}'s units are dead (threshold {:.0}%), its ‖δ‖ is {:.2e}",
                100.0 * hidden[i].dead,
                i + 1,
                100.0 * DEAD_FRACTION,
                hidden[i].delta
            ),
        };
    }
    if let Some(i) = top_down(&|l| l.saturated >= SATURATED_FRACTION) {
        return Verdict {
            kind: VerdictKind::Saturated,
            layer: Some(i + 1),
            reason: format!(
                "{:.0}% of layer {}'s values are saturated (threshold {:.0}%)",
                100.0 * hidden[i].saturated,
                i + 1,
                100.0 * SATURATED_FRACTION
            ),
        };
    }
    if d < 2 {
        return Verdict {
            kind: VerdictKind::Healthy,
            layer: None,
            reason: "one hidden layer: nothing to decay across".into(),
        };
    }
    let last = hidden[d - 1].delta;
    let ratio = hidden[0].delta / last;
    if !ratio.is_finite() {
        return Verdict {
            kind: VerdictKind::Exploding,
            layer: None,
            reason: format!("‖δ‖ is not finite (first {:e}, last {:e})", hidden[0].delta, last),
        };
    }
    let onset = |below: bool| {
        (0..d - 1).rev().find(|&i| {
            let c = hidden[i].delta / last;
            if below { c < ONSET_FRACTION } else { c > 1.0 / ONSET_FRACTION }
        })
    };
    let describe = |kind: &str, i: Option<usize>| {
        format!(
            "layer 1 receives {ratio:.2e} of layer {d}'s ‖δ‖ ({kind} threshold {}){}",
            if ratio < 1.0 { format!("{VANISHING_RATIO:e}") } else { format!("{EXPLODING_RATIO:e}") },
            i.map_or(String::new(), |i| format!("; the decay starts at layer {}", i + 1))
        )
    };
    if ratio < VANISHING_RATIO {
        let i = onset(true);
        Verdict { kind: VerdictKind::Vanishing, layer: i.map(|i| i + 1), reason: describe("vanishing", i) }
    } else if ratio > EXPLODING_RATIO {
        let i = onset(false);
        Verdict { kind: VerdictKind::Exploding, layer: i.map(|i| i + 1), reason: describe("exploding", i) }
    } else {
        Verdict {
            kind: VerdictKind::Healthy,
            layer: None,
            reason: format!(
                "layer 1 receives {ratio:.2e} of layer {d}'s ‖δ‖, within [{VANISHING_RATIO:e}, {EXPLODING_RATIO:e}]"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layers(deltas: &[f64]) -> Vec<HiddenLayer> {
        deltas.iter().map(|&delta| HiddenLayer { delta, dead: 0.0, saturated: 0.0 }).collect()
    }

    #[test]
    fn geometric_decay_vanishes_from_the_top() {
        let v = verdict(&layers(&(0..10).map(|i| 0.25f64.powi(10 - i)).collect::<Vec<_>>()));
        assert_eq!(v.kind, VerdictKind::Vanishing);
        assert_eq!(v.layer, Some(9), "the layer just below the last hidden one already lost 75%: {v:?}");
    }

    #[test]
    fn a_collapse_deep_down_names_its_layer() {
        // Flat down to layer 4 (1-based), then a cliff.
        let v = verdict(&layers(&[1e-5, 1e-4, 1e-3, 1.0, 1.0, 1.0]));
        assert_eq!((v.kind, v.layer), (VerdictKind::Vanishing, Some(3)));
    }

    #[test]
    fn flat_is_healthy_and_growth_explodes() {
        assert_eq!(verdict(&layers(&[0.9, 1.1, 1.0])).kind, VerdictKind::Healthy);
        assert_eq!(verdict(&layers(&[1e3, 10.0, 1.0])).kind, VerdictKind::Exploding);
        assert_eq!(verdict(&layers(&[1e-9])).kind, VerdictKind::Healthy, "one layer");
    }

    #[test]
    fn causes_come_before_effects() {
        let mut l = layers(&[1e-9, 1.0, 1.0]);
        l[1].saturated = 0.7;
        assert_eq!((verdict(&l).kind, verdict(&l).layer), (VerdictKind::Saturated, Some(2)));
        l[0].dead = 0.95;
        assert_eq!((verdict(&l).kind, verdict(&l).layer), (VerdictKind::Dead, Some(1)));
        assert_eq!(verdict(&layers(&[0.0, 1.0])).kind, VerdictKind::Dead, "a zero gradient is dead");
    }
}
