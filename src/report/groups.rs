//! Runs grouped over seeds: what the tables and plots show per configuration. A *group* is every run
//! that differs only in its seed; positive quantities are summarised by their geometric mean (the
//! natural centre of numbers that span decades) and their min–max over seeds (the plots' bands).

use std::collections::BTreeMap;

use crate::record::{RunRecord, Varying, VerdictKind};

pub struct Group<'a> {
    pub id: String,
    pub family: String,
    pub label: String,
    pub family_label: String,
    pub depth: usize,
    pub runs: Vec<&'a RunRecord>,
}

/// The groups of `runs`, in order of first appearance.
pub fn groups(runs: &[RunRecord]) -> Vec<Group<'_>> {
    let varying = Varying::of(runs.iter().map(|r| &r.config));
    let mut out: Vec<Group<'_>> = Vec::new();
    for r in runs {
        let id = r.config.group_id();
        match out.iter_mut().find(|g| g.id == id) {
            Some(g) => g.runs.push(r),
            None => out.push(Group {
                id,
                family: r.config.family_id(),
                label: r.config.group_label(&varying),
                family_label: r.config.family_label(&varying),
                depth: r.config.depth,
                runs: vec![r],
            }),
        }
    }
    out
}

/// Geometric mean, min and max of the positive finite values; `None` if there are none.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spread {
    pub mean: f64,
    pub min: f64,
    pub max: f64,
}

pub fn spread(values: impl IntoIterator<Item = Option<f64>>) -> Option<Spread> {
    let v: Vec<f64> = values.into_iter().flatten().filter(|x| x.is_finite() && *x > 0.0).collect();
    if v.is_empty() {
        return None;
    }
    let mean = (v.iter().map(|x| x.ln()).sum::<f64>() / v.len() as f64).exp();
    Some(Spread {
        mean,
        min: v.iter().copied().fold(f64::INFINITY, f64::min),
        max: v.iter().copied().fold(0.0, f64::max),
    })
}

/// The arithmetic mean of the finite values (losses, accuracies).
pub fn mean(values: impl IntoIterator<Item = Option<f64>>) -> Option<f64> {
    let v: Vec<f64> = values.into_iter().flatten().filter(|x| x.is_finite()).collect();
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

impl Group<'_> {
    /// How many runs got each verdict at `epoch` (0 = initialisation; `None` = each run's last).
    pub fn verdicts(&self, epoch: Option<usize>) -> BTreeMap<VerdictKind, usize> {
        let mut counts = BTreeMap::new();
        for r in &self.runs {
            let snap = match epoch {
                Some(e) => r.epochs.get(e),
                None => Some(r.last()),
            };
            if let Some(s) = snap {
                *counts.entry(s.verdict.kind).or_insert(0) += 1;
            }
        }
        counts
    }

    /// The most common verdict at initialisation (ties go to the worse, later kind) and its count.
    pub fn verdict(&self) -> (VerdictKind, usize) {
        self.verdicts(Some(0)).into_iter().max_by_key(|&(k, n)| (n, k)).unwrap_or((VerdictKind::Healthy, 0))
    }

    /// "vanishing" or "2/3 vanishing".
    pub fn verdict_text(&self) -> String {
        let (kind, n) = self.verdict();
        if n == self.runs.len() { kind.to_string() } else { format!("{n}/{} {kind}", self.runs.len()) }
    }

    /// The most common layer where the decay starts, among runs with the group's verdict.
    pub fn onset(&self) -> Option<usize> {
        let kind = self.verdict().0;
        let mut counts: BTreeMap<usize, usize> = BTreeMap::new();
        for r in &self.runs {
            if r.init().verdict.kind == kind
                && let Some(l) = r.init().verdict.layer
            {
                *counts.entry(l).or_insert(0) += 1;
            }
        }
        counts.into_iter().max_by_key(|&(l, n)| (n, std::cmp::Reverse(l))).map(|(l, _)| l)
    }
}
