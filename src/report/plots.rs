//! The report's SVG plots, drawn with plotters' SVG backend (text stays `<text>`, so no font files are
//! needed): ‖δ‖ per layer with seed bands and the theory dashed, the first layer's gradient and the
//! first/last ratio against depth, a layer × epoch heatmap per configuration, loss curves, and decision
//! boundaries for 2-D data. Each function returns the SVG document as a string.

use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;

use super::groups::{Group, mean, spread};
use crate::record::RunRecord;
use crate::record::boundary::Boundary;

/// One plot, named by its file (the web page gets it as JSON).
#[derive(serde::Serialize)]
pub struct Plot {
    pub file: &'static str,
    pub title: String,
    /// What the reader sees, in a sentence (the HTML figure caption).
    pub caption: String,
    pub svg: String,
}

pub(super) type Res<T> = Result<T, String>;

pub(super) fn err<E: std::fmt::Display>(e: E) -> String {
    format!("plotting failed: {e}")
}

/// Tableau's 10 colours: distinct, and readable on white.
const COLORS: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

fn color(i: usize) -> RGBColor {
    COLORS[i % COLORS.len()]
}

/// Series `i`'s marker, centred on `(x, y)` in pixels: a disc, a triangle, a diamond or a square.
fn shape(i: usize, (x, y): (i32, i32)) -> Vec<(i32, i32)> {
    let points: &[(i32, i32)] = match i % 4 {
        0 => &[(4, 0), (3, 3), (0, 4), (-3, 3), (-4, 0), (-3, -3), (0, -4), (3, -3)],
        1 => &[(0, -5), (5, 4), (-5, 4)],
        2 => &[(0, -5), (5, 0), (0, 5), (-5, 0)],
        _ => &[(-4, -4), (4, -4), (4, 4), (-4, 4)],
    };
    points.iter().map(|(dx, dy)| (x + dx, y + dy)).collect()
}

pub(super) const FONT: &str = "sans-serif";

/// The legend every plot uses, at `position`.
pub(super) fn draw_legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    position: SeriesLabelPosition,
) -> Result<(), String> {
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .label_font((FONT, 12))
        .draw()
        .map_err(err)
}

/// A log axis range covering every positive finite value, padded to whole half-decades.
fn log_range(values: impl IntoIterator<Item = f64>) -> std::ops::Range<f64> {
    let (lo, hi) = values
        .into_iter()
        .filter(|v| v.is_finite() && *v > 0.0)
        .fold((f64::INFINITY, 0.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if !lo.is_finite() {
        return 1e-3..1.0;
    }
    let (lo, hi) = (10f64.powf((lo.log10() * 2.0).floor() / 2.0), 10f64.powf((hi.log10() * 2.0).ceil() / 2.0));
    if hi / lo < 10.0 { lo / 3.0..hi * 3.0 } else { lo..hi }
}

fn sci(v: &f64) -> String {
    format!("{v:.0e}")
}

/// `n` panels in rows of up to `cols`.
pub(super) fn panels<'a>(
    root: &DrawingArea<SVGBackend<'a>, Shift>,
    n: usize,
    cols: usize,
) -> Vec<DrawingArea<SVGBackend<'a>, Shift>> {
    let cols = cols.clamp(1, n.max(1));
    root.split_evenly((n.div_ceil(cols).max(1), cols))
}

pub(super) fn render(
    width: u32,
    height: u32,
    draw: impl FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> Res<()>,
) -> Res<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        draw(&root)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// Tick labels for whole-number axes (layers, depths, epochs): blank between the whole numbers.
fn integer_label(v: &f64) -> String {
    if (v - v.round()).abs() < 1e-6 { format!("{v:.0}") } else { String::new() }
}

/// ‖δ‖ per layer for `groups` at snapshot `epoch` (the last one each run has, if it has fewer):
/// geometric mean over seeds, min–max band, and the theory's profile anchored at the output layer.
fn delta_panel(area: &DrawingArea<SVGBackend<'_>, Shift>, groups: &[&Group<'_>], epoch: usize, title: &str) -> Res<()> {
    let snap = |r: &RunRecord| r.epochs.get(epoch).unwrap_or_else(|| r.last()).clone();
    let max_layers = groups.iter().map(|g| g.depth + 1).max().unwrap_or(1);
    let profiles: Vec<Vec<_>> = groups
        .iter()
        .map(|g| {
            (0..=g.depth)
                .map(|l| spread(g.runs.iter().map(|r| snap(r).layers.get(l).map(|s| s.delta))))
                .collect::<Vec<_>>()
        })
        .collect();
    // The theory: start at the measured output layer, multiply by the predicted √χ of each step down.
    let theories: Vec<Vec<(f64, f64)>> = groups
        .iter()
        .zip(&profiles)
        .map(|(g, prof)| {
            let mut line = Vec::new();
            let Some(Some(top)) = prof.last() else { return line };
            let mut v = top.mean;
            line.push(((g.depth + 1) as f64, v));
            for l in (0..g.depth).rev() {
                match spread(g.runs.iter().map(|r| snap(r).transitions.get(l).and_then(|t| t.predicted))) {
                    Some(f) => v *= f.mean,
                    None => break,
                }
                line.push(((l + 1) as f64, v));
            }
            if line.len() < 2 { Vec::new() } else { line }
        })
        .collect();
    let y = log_range(
        profiles.iter().flatten().flatten().flat_map(|s| [s.min, s.max]).chain(theories.iter().flatten().map(|p| p.1)),
    );
    let x = 0.5..max_layers as f64 + 0.5;
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FONT, 17))
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(64)
        .build_cartesian_2d(x, y.log_scale())
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("dense layer (1 = first hidden, last = output)")
        .y_desc("‖δ‖ = ‖∂L/∂z‖")
        .x_labels(max_layers.min(16))
        .x_label_formatter(&integer_label)
        .y_label_formatter(&sci)
        .draw()
        .map_err(err)?;
    for (i, ((g, prof), theory)) in groups.iter().zip(&profiles).zip(&theories).enumerate() {
        let c = color(i);
        let pts: Vec<(f64, f64)> =
            prof.iter().enumerate().filter_map(|(l, s)| s.map(|s| ((l + 1) as f64, s.mean))).collect();
        let mut band: Vec<(f64, f64)> =
            prof.iter().enumerate().filter_map(|(l, s)| s.map(|s| ((l + 1) as f64, s.max))).collect();
        band.extend(prof.iter().enumerate().rev().filter_map(|(l, s)| s.map(|s| ((l + 1) as f64, s.min))));
        chart.draw_series(std::iter::once(Polygon::new(band, c.mix(0.15).filled()))).map_err(err)?;
        chart.draw_series(LineSeries::new(pts.clone(), c.stroke_width(2))).map_err(err)?.label(g.label.clone()).legend(
            move |(x, y)| {
                EmptyElement::at((x, y))
                    + PathElement::new(vec![(0, 0), (18, 0)], c.stroke_width(2))
                    + Polygon::new(shape(i, (9, 0)), c.filled())
            },
        );
        // A shape per series at every layer, so the lines differ by more than colour.
        chart
            .draw_series(pts.into_iter().map(|p| EmptyElement::at(p) + Polygon::new(shape(i, (0, 0)), c.filled())))
            .map_err(err)?;
        if !theory.is_empty() {
            chart.draw_series(DashedLineSeries::new(theory.clone(), 5, 4, c.stroke_width(1))).map_err(err)?;
        }
    }
    if theories.iter().any(|t| !t.is_empty()) {
        chart
            .draw_series(std::iter::empty::<PathElement<(f64, f64)>>())
            .map_err(err)?
            .label("theory: ‖δ_out‖·Π√χ (dashed)")
            .legend(|(x, y)| DashedPathElement::new(vec![(x, y), (x + 18, y)], 4, 3, BLACK.stroke_width(1)));
    }
    draw_legend(&mut chart, SeriesLabelPosition::LowerRight)?;
    Ok(())
}

/// Plot 1: ‖δ‖ against layer at initialisation (and after the last epoch, when trained).
pub fn delta_vs_layer(groups: &[&Group<'_>]) -> Res<Plot> {
    let epochs = groups.iter().flat_map(|g| &g.runs).map(|r| r.epochs.len()).max().unwrap_or(1);
    let trained = epochs > 1;
    // The last snapshot's epoch (snapshots are every epoch, or every `--measure-every`-th).
    let last_epoch = groups.iter().flat_map(|g| &g.runs).map(|r| r.last().epoch).max().unwrap_or(0);
    let svg = render(if trained { 1300 } else { 900 }, 560, |root| {
        if trained {
            let (a, b) = root.split_horizontally(650);
            delta_panel(&a, groups, 0, "‖δ‖ per layer at initialisation")?;
            delta_panel(&b, groups, epochs - 1, &format!("after epoch {last_epoch}"))
        } else {
            delta_panel(root, groups, 0, "‖δ‖ per layer at initialisation")
        }
    })?;
    Ok(Plot {
        file: "delta_vs_layer.svg",
        title: "Gradient norm per layer".into(),
        caption: "‖δ‖ = ‖∂L/∂z‖ of every dense layer on a log axis: the geometric mean over seeds (line), their \
                  min–max (band), and the mean-field prediction ‖δ_out‖·Π√χ (dashed), χ = n·Var[W]·E[f′(z)²] from \
                  the measured weights and pre-activations. A straight falling line is a constant per-layer factor."
            .into(),
        svg,
    })
}

/// One line per family against depth, with a band over seeds.
fn depth_panel(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    groups: &[Group<'_>],
    title: &str,
    y_desc: &str,
    value: &dyn Fn(&RunRecord) -> Option<f64>,
) -> Res<()> {
    let mut families: Vec<(&str, &str)> = Vec::new();
    for g in groups {
        if !families.iter().any(|(f, _)| *f == g.family) {
            families.push((&g.family, &g.family_label));
        }
    }
    let series: Vec<Vec<(f64, super::groups::Spread)>> = families
        .iter()
        .map(|(f, _)| {
            let mut pts: Vec<(f64, super::groups::Spread)> = groups
                .iter()
                .filter(|g| g.family == *f)
                .filter_map(|g| spread(g.runs.iter().map(|r| value(r))).map(|s| (g.depth as f64, s)))
                .collect();
            pts.sort_by(|a, b| a.0.total_cmp(&b.0));
            pts
        })
        .collect();
    let max_depth = groups.iter().map(|g| g.depth).max().unwrap_or(1);
    let min_depth = groups.iter().map(|g| g.depth).min().unwrap_or(1);
    let y = log_range(series.iter().flatten().flat_map(|(_, s)| [s.min, s.max]));
    let x = min_depth as f64 - 0.5..max_depth as f64 + 0.5;
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FONT, 17))
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(64)
        .build_cartesian_2d(x, y.log_scale())
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("hidden layers (depth)")
        .y_desc(y_desc)
        .x_labels((max_depth + 1 - min_depth).min(16))
        .x_label_formatter(&integer_label)
        .y_label_formatter(&sci)
        .draw()
        .map_err(err)?;
    for (i, ((_, label), pts)) in families.iter().zip(&series).enumerate() {
        let c = color(i);
        let mut band: Vec<(f64, f64)> = pts.iter().map(|(x, s)| (*x, s.max)).collect();
        band.extend(pts.iter().rev().map(|(x, s)| (*x, s.min)));
        chart.draw_series(std::iter::once(Polygon::new(band, c.mix(0.15).filled()))).map_err(err)?;
        let line: Vec<(f64, f64)> = pts.iter().map(|(x, s)| (*x, s.mean)).collect();
        chart
            .draw_series(LineSeries::new(line.clone(), c.stroke_width(2)))
            .map_err(err)?
            .label(label.to_string())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2)));
        chart.draw_series(line.iter().map(|&p| Circle::new(p, 3, c.filled()))).map_err(err)?;
    }
    draw_legend(&mut chart, SeriesLabelPosition::LowerLeft)?;
    Ok(())
}

/// Plot 2: the first layer's ‖dW‖ and ‖dW₁‖/‖dW_out‖ against depth, at initialisation.
pub fn depth(groups: &[Group<'_>]) -> Res<Plot> {
    let svg = render(1300, 520, |root| {
        let (a, b) = root.split_horizontally(650);
        depth_panel(&a, groups, "first layer's gradient at initialisation", "‖dL/dW₁‖", &|r| {
            r.init().layers.first().map(|l| l.grad_w)
        })?;
        depth_panel(&b, groups, "first/last ratio at initialisation", "‖dW₁‖ / ‖dW_out‖", &|r| {
            r.init().first_last
        })
    })?;
    Ok(Plot {
        file: "depth.svg",
        title: "Depth".into(),
        caption: "Left: the first hidden layer's gradient norm ‖dL/dW₁‖; right: its ratio to the output layer's. One \
                  line per configuration (geometric mean over seeds, band min–max); a straight falling line on this \
                  log axis is exponential decay with depth."
            .into(),
        svg,
    })
}

/// A perceptually ordered colour scale (viridis' anchors), `t` in [0, 1].
pub(super) fn viridis(t: f64) -> RGBColor {
    const ANCHORS: [(f64, f64, f64); 5] =
        [(68.0, 1.0, 84.0), (59.0, 82.0, 139.0), (33.0, 145.0, 140.0), (94.0, 201.0, 98.0), (253.0, 231.0, 37.0)];
    let t = t.clamp(0.0, 1.0) * (ANCHORS.len() - 1) as f64;
    let i = (t.floor() as usize).min(ANCHORS.len() - 2);
    let f = t - i as f64;
    let (a, b) = (ANCHORS[i], ANCHORS[i + 1]);
    let mix = |x: f64, y: f64| (x + (y - x) * f).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// Plot 3: per configuration, log10 ‖dW‖ (geometric mean over seeds) for every layer × epoch.
pub fn heatmap(groups: &[&Group<'_>]) -> Res<Plot> {
    let cells: Vec<Vec<Vec<Option<f64>>>> = groups
        .iter()
        .map(|g| {
            let epochs = g.runs.iter().map(|r| r.epochs.len()).min().unwrap_or(0);
            (0..epochs)
                .map(|e| {
                    (0..=g.depth)
                        .map(|l| {
                            spread(g.runs.iter().map(|r| r.epochs[e].layers.get(l).map(|s| s.grad_w)))
                                .map(|s| s.mean.log10())
                        })
                        .collect()
                })
                .collect()
        })
        .collect();
    let (lo, hi) = cells
        .iter()
        .flatten()
        .flatten()
        .flatten()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    let (lo, hi) = if lo.is_finite() { (lo, hi.max(lo + 1e-9)) } else { (0.0, 1.0) };
    let cols = 3;
    let rows = groups.len().div_ceil(cols).max(1);
    let svg = render(1200, 60 + 330 * rows as u32, |root| {
        let (head, body) = root.split_vertically(60);
        // The colour bar: the shared scale of every panel.
        let bar = head.margin(8, 8, 300, 300);
        let (w, _) = bar.dim_in_pixel();
        for px in 0..w as i32 {
            let c = viridis(px as f64 / w as f64);
            bar.draw(&Rectangle::new([(px, 18), (px + 1, 34)], c.filled())).map_err(err)?;
        }
        let style = (FONT, 13).into_font().color(&BLACK);
        bar.draw(&Text::new(format!("log10 ‖dW‖ = {lo:.1}"), (0, 0), style.clone())).map_err(err)?;
        bar.draw(&Text::new(format!("{hi:.1}"), (w as i32 - 30, 0), style)).map_err(err)?;
        for ((g, grid), area) in groups.iter().zip(&cells).zip(panels(&body, groups.len(), cols)) {
            let epochs = grid.len().max(1);
            let layers = g.depth + 1;
            // Cell (epoch e, 1-based layer k) is centred on (e, k), so the ticks fall on whole numbers.
            let x = -0.5..epochs as f64 - 0.5;
            let y = 0.5..layers as f64 + 0.5;
            let mut chart = ChartBuilder::on(&area)
                .caption(&g.label, (FONT, 14))
                .margin(8)
                .x_label_area_size(34)
                .y_label_area_size(40)
                .build_cartesian_2d(x, y)
                .map_err(err)?;
            let depth = g.depth;
            // Columns are snapshots, labelled with their epoch (every one, or every `--measure-every`-th).
            let snapshots: Vec<usize> = g.runs[0].epochs.iter().map(|s| s.epoch).collect();
            let epoch_label = |v: &f64| match integer_label(v).parse::<usize>() {
                Ok(i) => snapshots.get(i).map_or(String::new(), |e| e.to_string()),
                Err(_) => String::new(),
            };
            chart
                .configure_mesh()
                .disable_mesh()
                .x_desc("epoch")
                .y_desc("layer")
                .x_labels(epochs.min(12))
                .y_labels(layers.min(16))
                .x_label_formatter(&epoch_label)
                .y_label_formatter(&move |v| {
                    if (v - v.round()).abs() > 1e-6 || *v < 0.5 {
                        String::new()
                    } else if v.round() as usize == depth + 1 {
                        "out".into()
                    } else {
                        format!("{v:.0}")
                    }
                })
                .draw()
                .map_err(err)?;
            let rects = grid.iter().enumerate().flat_map(|(e, col)| {
                col.iter().enumerate().filter_map(move |(l, v)| {
                    v.map(|v| {
                        let c = viridis((v - lo) / (hi - lo));
                        let (x, y) = (e as f64, (l + 1) as f64);
                        Rectangle::new([(x - 0.5, y - 0.5), (x + 0.5, y + 0.5)], c.filled())
                    })
                })
            });
            chart.draw_series(rects).map_err(err)?;
        }
        Ok(())
    })?;
    Ok(Plot {
        file: "heatmap.svg",
        title: "Gradient through training".into(),
        caption: "For each configuration, log10 of every dense layer's gradient norm ‖dW‖ (rows; the output layer on \
                  top) at initialisation and after each epoch (columns), geometric mean over seeds, on one shared \
                  colour scale."
            .into(),
        svg,
    })
}

/// The edges of cells centred on ascending `centres`: midpoints between them, and half a neighbour's gap
/// beyond the ends.
fn cell_edges(centres: &[f64]) -> Vec<f64> {
    let n = centres.len();
    if n == 1 {
        return vec![centres[0] - 0.5, centres[0] + 0.5];
    }
    let mut edges = vec![centres[0] - 0.5 * (centres[1] - centres[0])];
    edges.extend(centres.windows(2).map(|w| 0.5 * (w[0] + w[1])));
    edges.push(centres[n - 1] + 0.5 * (centres[n - 1] - centres[n - 2]));
    edges
}

/// The theory's depth multiples drawn over the trainability diagram, with their colours.
const XI_MULTIPLES: [(f64, &str, RGBColor); 3] =
    [(1.0, "ξ_c", WHITE), (3.0, "3ξ_c", RGBColor(255, 160, 0)), (6.0, "6ξ_c", RGBColor(214, 39, 40))];

/// Plot 6, for sweeps over σ_w²: the training accuracy after training over σ_w² × depth, with ξ_c, 3ξ_c
/// and 6ξ_c from the mean-field theory and the critical σ_w² drawn over it (Schoenholz et al. 2017,
/// Fig. 5).
pub fn trainability(panels_: &[super::trainability::Panel]) -> Res<Plot> {
    let cols = 2;
    let rows = panels_.len().div_ceil(cols).max(1);
    // One colour scale for every panel, over the accuracies measured: chance differs between datasets.
    let (lo, hi) = panels_
        .iter()
        .flat_map(|p| p.accuracy.iter().flatten().flatten())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &a| (lo.min(a), hi.max(a)));
    let (lo, hi) = if lo.is_finite() { (lo, hi.max(lo + 1e-9)) } else { (0.0, 1.0) };
    let svg = render(1200, 60 + 480 * rows as u32, |root| {
        let (head, body) = root.split_vertically(60);
        let bar = head.margin(8, 8, 300, 300);
        let (w, _) = bar.dim_in_pixel();
        for px in 0..w as i32 {
            bar.draw(&Rectangle::new([(px, 18), (px + 1, 34)], viridis(px as f64 / w as f64).filled())).map_err(err)?;
        }
        let style = (FONT, 13).into_font().color(&BLACK);
        bar.draw(&Text::new(format!("training accuracy {lo:.3}"), (0, 0), style.clone())).map_err(err)?;
        bar.draw(&Text::new(format!("{hi:.3}"), (w as i32 - 36, 0), style)).map_err(err)?;
        for (p, area) in panels_.iter().zip(panels(&body, panels_.len(), cols)) {
            let depths: Vec<f64> = p.depths.iter().map(|&d| d as f64).collect();
            let (xe, ye) = (cell_edges(&p.sigma_w2), cell_edges(&depths));
            let (x0, x1, y0, y1) = (xe[0], xe[xe.len() - 1], ye[0], ye[ye.len() - 1]);
            let mut chart = ChartBuilder::on(&area)
                .caption(format!("{}, σ_b² = {}", p.label, crate::text::number(p.sigma_b2)), (FONT, 14))
                .margin(8)
                .x_label_area_size(36)
                .y_label_area_size(44)
                .build_cartesian_2d(x0..x1, y0..y1)
                .map_err(err)?;
            chart.configure_mesh().disable_mesh().x_desc("σ_w²").y_desc("depth").draw().map_err(err)?;
            let cells = p.accuracy.iter().enumerate().flat_map(|(r, row)| {
                let (xe, ye) = (&xe, &ye);
                row.iter().enumerate().map(move |(c, a)| {
                    let fill = a.map_or(RGBColor(200, 200, 200), |a| viridis((a - lo) / (hi - lo)));
                    Rectangle::new([(xe[c], ye[r]), (xe[c + 1], ye[r + 1])], fill.filled())
                })
            });
            chart.draw_series(cells).map_err(err)?;
            for (k, name, c) in XI_MULTIPLES {
                // The curve where k·ξ_c exists and lies on the chart, in unbroken pieces.
                let mut pieces: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
                for m in &p.curve {
                    match m.xi_c.map(|xi| k * xi).filter(|d| (y0..=y1).contains(d)) {
                        Some(d) => pieces.last_mut().expect("one piece at least").push((m.sigma_w2, d)),
                        None => pieces.push(Vec::new()),
                    }
                }
                let mut labelled = false;
                for piece in pieces.into_iter().filter(|p| !p.is_empty()) {
                    let series = chart.draw_series(LineSeries::new(piece, c.stroke_width(3))).map_err(err)?;
                    if !labelled {
                        series
                            .label(name)
                            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(3)));
                        labelled = true;
                    }
                }
            }
            if let Some(w) = p.critical_sigma_w2.filter(|w| (x0..=x1).contains(w)) {
                chart
                    .draw_series([DashedPathElement::new(vec![(w, y0), (w, y1)], 6, 4, BLACK.stroke_width(2))])
                    .map_err(err)?
                    .label("critical σ_w²")
                    .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], BLACK.stroke_width(2)));
            }
            draw_legend(&mut chart, SeriesLabelPosition::UpperRight)?;
        }
        Ok(())
    })?;
    Ok(Plot {
        file: "trainability.svg",
        title: "Trainability".into(),
        caption: "For the runs initialised with W ~ N(0, σ_w²/fan_in) (--sigma-w2), the training accuracy after the \
                  last epoch (mean over seeds; grey where a run diverged) over σ_w² and depth, with the mean-field \
                  depth scale ξ_c, 3ξ_c and 6ξ_c at each σ_w² and the critical σ_w² (dashed) drawn over it. Schoenholz \
                  et al. (2017) find networks trainable to about 6ξ_c layers."
            .into(),
        svg,
    })
}

/// A centred moving average over `window` values.
fn smooth(v: &[f64], window: usize) -> Vec<f64> {
    let h = window / 2;
    (0..v.len())
        .map(|i| {
            let s = &v[i.saturating_sub(h)..(i + h + 1).min(v.len())];
            s.iter().sum::<f64>() / s.len() as f64
        })
        .collect()
}

/// Plot 4: training loss against epoch (batch losses, mean over seeds, smoothed over a quarter epoch),
/// with the evaluation-mode test loss at each epoch as dots.
pub fn loss(groups: &[&Group<'_>]) -> Res<Plot> {
    type Points = Vec<(f64, f64)>;
    let curves: Vec<(Points, Points)> = groups
        .iter()
        .map(|g| {
            let n = g.runs.iter().map(|r| r.batch_losses.len()).min().unwrap_or(0);
            let spe = g.runs.first().map_or(1, |r| r.steps_per_epoch.max(1));
            let avg: Vec<f64> =
                (0..n).map(|i| g.runs.iter().map(|r| r.batch_losses[i]).sum::<f64>() / g.runs.len() as f64).collect();
            let train = smooth(&avg, (spe / 4).max(1))
                .into_iter()
                .enumerate()
                .map(|(i, v)| ((i + 1) as f64 / spe as f64, v))
                .filter(|p| p.1.is_finite())
                .collect();
            let epochs = g.runs.iter().map(|r| r.epochs.len()).min().unwrap_or(0);
            let test = (0..epochs)
                .filter_map(|e| {
                    let loss = mean(g.runs.iter().map(|r| r.epochs[e].test_loss.or(r.epochs[e].loss)));
                    // the snapshot's epoch: every epoch, or every `--measure-every`-th
                    loss.map(|l| (g.runs[0].epochs[e].epoch as f64, l))
                })
                .collect();
            (train, test)
        })
        .collect();
    let trained = curves.iter().any(|(t, _)| !t.is_empty());
    let max_x = curves.iter().flat_map(|(t, e)| t.iter().chain(e)).map(|p| p.0).fold(0.0, f64::max);
    let ys: Vec<f64> = curves.iter().flat_map(|(t, e)| t.iter().chain(e)).map(|p| p.1).collect();
    let y_hi = ys.iter().copied().fold(0.0f64, f64::max).max(1e-3);
    let y_lo = ys.iter().copied().fold(y_hi, f64::min);
    let pad = 0.08 * (y_hi - y_lo).max(0.05 * y_hi);
    let (y_lo, y_hi) = ((y_lo - pad).max(0.0), y_hi + pad);
    let svg = render(900, 520, |root| {
        let title =
            if trained { "loss during training" } else { "loss at initialisation (--epochs 0: no training steps)" };
        let mut chart = ChartBuilder::on(root)
            .caption(title, (FONT, 17))
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(-0.05..(max_x.max(1.0) + 0.05), y_lo..y_hi)
            .map_err(err)?;
        chart.configure_mesh().x_desc("epoch").y_desc("cross-entropy").draw().map_err(err)?;
        for (i, (g, (train, test))) in groups.iter().zip(&curves).enumerate() {
            let c = color(i);
            chart
                .draw_series(LineSeries::new(train.clone(), c.stroke_width(2)))
                .map_err(err)?
                .label(g.label.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2)));
            chart.draw_series(test.iter().map(|&p| Circle::new(p, 4, c.filled()))).map_err(err)?;
        }
        draw_legend(&mut chart, SeriesLabelPosition::UpperRight)?;
        Ok(())
    })?;
    Ok(Plot {
        file: "loss.svg",
        title: "Loss".into(),
        caption:
            "Training loss per batch (mean over seeds, smoothed over a quarter epoch; lines) and the test loss in \
                  evaluation mode at initialisation and after each epoch (dots)."
                .into(),
        svg,
    })
}

/// A light and a dark shade of class `k`'s colour (cells and points).
fn class_colors(k: u32) -> (RGBAColor, RGBColor) {
    let c = color(k as usize);
    (c.mix(0.22), c)
}

/// Plot 5: for 2-D data, the training points over the predicted class of every grid cell.
pub fn boundaries(runs: &[(&str, &Boundary)]) -> Res<Plot> {
    let cols = 3.min(runs.len().max(1));
    let rows = runs.len().div_ceil(cols).max(1);
    let svg = render(380 * cols as u32, 380 * rows as u32, |root| {
        for ((label, b), area) in runs.iter().zip(panels(root, runs.len(), cols)) {
            let mut chart = ChartBuilder::on(&area)
                .caption(label, (FONT, 14))
                .margin(8)
                .x_label_area_size(28)
                .y_label_area_size(36)
                .build_cartesian_2d(b.x_min..b.x_max, b.y_min..b.y_max)
                .map_err(err)?;
            chart.configure_mesh().disable_mesh().x_labels(5).y_labels(5).draw().map_err(err)?;
            let n = b.resolution;
            let (dx, dy) = ((b.x_max - b.x_min) / n as f64, (b.y_max - b.y_min) / n as f64);
            // One rectangle per run of equal cells along a row keeps the SVG small.
            let mut cells = Vec::new();
            for (j, row) in b.predicted.chunks(n).enumerate() {
                let mut i = 0;
                while i < row.len() {
                    let len = row[i..].iter().take_while(|&&c| c == row[i]).count();
                    let (x, y) = (b.x_min + i as f64 * dx, b.y_min + j as f64 * dy);
                    cells
                        .push(Rectangle::new([(x, y), (x + len as f64 * dx, y + dy)], class_colors(row[i]).0.filled()));
                    i += len;
                }
            }
            chart.draw_series(cells).map_err(err)?;
            chart
                .draw_series(
                    b.points.iter().map(|&(x, y, c)| Circle::new((x as f64, y as f64), 2, class_colors(c).1.filled())),
                )
                .map_err(err)?;
        }
        Ok(())
    })?;
    Ok(Plot {
        file: "boundary.svg",
        title: "Decision boundaries".into(),
        caption: "The training data (dots, coloured by class) over the class the trained network predicts at each \
                  point (shaded), one panel per configuration (first seed)."
            .into(),
        svg,
    })
}
