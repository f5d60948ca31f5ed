//! Glorot & Bengio's figures (2010, Figs. 6–7): per-layer histograms of the activations and of the
//! back-propagated gradients, one curve per hidden layer, overlaid on the range the layers share — so a
//! gradient that narrows towards the input shows as curves that gather into the middle. One column per
//! configuration (its first seed), one row per quantity; one figure at initialisation and one after
//! training.

use plotters::prelude::*;

use super::groups::Group;
use super::plots::{FONT, Plot, Res, draw_legend, err, panels, render, viridis};
use crate::histogram::{Histogram, LayerHistograms, QUANTITIES};
use crate::record::RunRecord;

/// Columns drawn at most: the figures compare a few configurations side by side.
const MAX_COLUMNS: usize = 4;

/// Layers named in a panel's legend at most (the colour runs from the first layer to the last).
const MAX_NAMED: usize = 6;

/// The rows' titles, in `QUANTITIES` order.
const ROW_TITLES: [&str; 4] = ["pre-activations", "activations", "back-propagated δ", "weight gradients dW"];

/// The first run of each group that has histograms, up to `MAX_COLUMNS`, with its group's label.
fn columns<'a>(groups: &[&'a Group<'a>]) -> Vec<(&'a str, &'a RunRecord)> {
    groups
        .iter()
        .filter_map(|g| g.runs.iter().find(|r| !r.init().histograms.is_empty()).map(|r| (g.label.as_str(), *r)))
        .take(MAX_COLUMNS)
        .collect()
}

/// Whether `n` of `layers` gets a legend entry: the first, the last and evenly between.
fn named(n: usize, layers: usize) -> bool {
    let step = layers.div_ceil(MAX_NAMED).max(1);
    n == 0 || n + 1 == layers || n.is_multiple_of(step)
}

/// An x tick label on an axis `width` wide: 0 where the ticks' arithmetic left round-off, plain decimals
/// on everyday scales, powers of ten on gradients' tiny ones.
fn tick(v: f64, width: f64) -> String {
    if v.abs() < 1e-9 * width {
        "0".into()
    } else if (1e-2..1e3).contains(&width) {
        format!("{}", (v * 1e3).round() / 1e3)
    } else {
        format!("{v:.1e}")
    }
}

/// One panel: quantity `q` of the hidden layers of `hists`.
fn panel(area: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>, caption: &str, hists: &[&Histogram]) -> Res<()> {
    let first = hists[0];
    let fractions: Vec<Vec<f64>> =
        hists.iter().map(|h| h.counts.iter().map(|&c| c as f64 / h.total().max(1) as f64).collect()).collect();
    let top = fractions.iter().flatten().fold(0.0f64, |m, &v| m.max(v)).max(1e-3) * 1.05;
    let mut chart = ChartBuilder::on(area)
        .caption(caption, (FONT, 13))
        .margin(8)
        .x_label_area_size(28)
        .y_label_area_size(44)
        .build_cartesian_2d(first.lo..first.hi, 0.0..top)
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_labels(5)
        .y_labels(4)
        .x_label_formatter(&|v| tick(*v, first.hi - first.lo))
        .y_desc("fraction")
        .draw()
        .map_err(err)?;
    let n = hists.len();
    for (l, (h, f)) in hists.iter().zip(&fractions).enumerate() {
        let colour = viridis(if n > 1 { l as f64 / (n - 1) as f64 } else { 0.0 });
        let points: Vec<(f64, f64)> = f.iter().enumerate().map(|(b, &v)| (h.centre(b), v)).collect();
        let series = chart.draw_series(LineSeries::new(points, colour.stroke_width(2))).map_err(err)?;
        if named(l, n) {
            series
                .label(format!("layer {}", l + 1))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], colour.stroke_width(2)));
        }
    }
    draw_legend(&mut chart, SeriesLabelPosition::UpperRight)
}

/// The figure of snapshot `pick` (the first or the last) of each column's run; `None` when no run has
/// histograms there.
fn figure(
    groups: &[&Group<'_>],
    pick: fn(&RunRecord) -> &crate::record::EpochSnapshot,
    file: &'static str,
    when: &str,
) -> Res<Option<Plot>> {
    let chosen: Vec<(&str, &[LayerHistograms])> = columns(groups)
        .into_iter()
        .map(|(label, r)| (label, &pick(r).histograms[..]))
        .filter(|(_, h)| h.len() > 1)
        .collect();
    if chosen.is_empty() {
        return Ok(None);
    }
    let (rows, cols) = (QUANTITIES.len(), chosen.len());
    let svg = render(380 * cols as u32, 260 * rows as u32, |root| {
        let areas = panels(root, rows * cols, cols);
        for (q, title) in ROW_TITLES.iter().enumerate() {
            for (c, (label, layers)) in chosen.iter().enumerate() {
                // The hidden layers: the output layer's logits and gradient live on another scale.
                let hidden: Vec<&Histogram> = layers[..layers.len() - 1].iter().map(|l| l.get(q)).collect();
                panel(&areas[q * cols + c], &format!("{label}: {title}"), &hidden)?;
            }
        }
        Ok(())
    })?;
    Ok(Some(Plot {
        file,
        title: format!("Per-layer histograms {when}"),
        caption: format!(
            "Glorot & Bengio's figures {when}: for each configuration (a column, its first seed), the distribution of \
             each hidden layer's pre-activations, activations, back-propagated δ and weight gradients, one curve per \
             layer from the first (dark) to the last (yellow), as the fraction of the layer's values in each of the \
             bins of the range its layers share. Curves that narrow into the middle are a signal or a gradient that \
             shrinks from layer to layer."
        ),
        svg,
    }))
}

/// The histogram figures of `groups`: at initialisation and, where the runs trained, after training.
pub fn histograms(groups: &[&Group<'_>]) -> Res<Vec<Plot>> {
    let mut out = Vec::new();
    out.extend(figure(groups, RunRecord::init, "histograms.svg", "at initialisation")?);
    let trained = groups.iter().any(|g| g.runs.iter().any(|r| r.last().epoch > 0));
    if trained {
        out.extend(figure(groups, RunRecord::last, "histograms-trained.svg", "after training")?);
    }
    Ok(out)
}
