//! The mean-field theory (`vanish::mean_field`) against what does not share its code: closed forms
//! (ReLU's arc-cosine kernels, erf's arcsine kernel), an independent Gauss–Hermite quadrature for tanh,
//! Monte-Carlo estimates for the activations without either, and the published critical point.

use assert_cmd::Command;
use rand::Rng;
use vanish::mean_field::quadrature::expect_pair;
use vanish::mean_field::{MeanField, Nonlinearity, Phase, chi_1, q_star, variance_map};
use vanish::model::Activation;
use vanish::rng::{Stream, rng};

fn rel(got: f64, want: f64) -> f64 {
    (got - want).abs() / want.abs().max(1e-300)
}

fn assert_rel(name: &str, got: f64, want: f64, tol: f64) {
    assert!(
        rel(got, want) <= tol,
        "{name}: got {got:.15e}, want {want:.15e} (relative {:.1e} > {tol:.0e})",
        rel(got, want)
    );
}

/// Bisection for the root of a function that is ≥ 0 at `lo` and < 0 at `hi`, written here so that the
/// reference values below share nothing with the library.
fn root(mut lo: f64, mut hi: f64, f: impl Fn(f64) -> f64) -> f64 {
    for _ in 0..300 {
        let mid = 0.5 * (lo + hi);
        if f(mid) >= 0.0 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

#[test]
fn relu_kernels_are_the_arc_cosine_kernels() {
    // Cho & Saul (2009): with θ = arccos c, E[relu(u₁)relu(u₂)] = q/(2π)·(sin θ + (π − θ)·c) and
    // E[1{u₁>0}·1{u₂>0}] = (π − θ)/(2π). The step's jump crosses the inner integral's panels everywhere but
    // where the quadrature splits it, so this checks the splitting.
    let pi = std::f64::consts::PI;
    for q in [0.3, 1.0, 4.0] {
        for c in [-0.99, -0.6, -0.1, 0.0, 0.35, 0.8, 0.999] {
            let theta = f64::acos(c);
            let relu = |u: f64| u.max(0.0);
            let step = |u: f64| if u > 0.0 { 1.0 } else { 0.0 };
            let want = q / (2.0 * pi) * (theta.sin() + (pi - theta) * c);
            assert_rel(&format!("E[relu relu] q={q} c={c}"), expect_pair(q, c, relu, relu), want, 1e-12);
            let want = (pi - theta) / (2.0 * pi);
            assert_rel(&format!("E[step step] q={q} c={c}"), expect_pair(q, c, step, step), want, 1e-12);
        }
    }
}

/// erf, whose mean-field maps have closed forms (Williams 1998): for u ~ N(0, Σ),
/// E[erf(u₁)erf(u₂)] = (2/π)·arcsin(2Σ₁₂/√((1 + 2Σ₁₁)(1 + 2Σ₂₂))) and, with erf′(u) = (2/√π)·e^{−u²},
/// E[erf′(u₁)erf′(u₂)] = (4/π)/√det(I + 2Σ).
struct Erf;

impl Nonlinearity for Erf {
    fn value(&self, u: f64) -> f64 {
        libm::erf(u)
    }
    fn slope(&self, u: f64) -> f64 {
        2.0 / std::f64::consts::PI.sqrt() * (-u * u).exp()
    }
}

fn erf_pair(q: f64, c: f64) -> f64 {
    2.0 / std::f64::consts::PI * (2.0 * q * c / (1.0 + 2.0 * q)).asin()
}

fn erf_slope_pair(q: f64, c: f64) -> f64 {
    4.0 / std::f64::consts::PI / ((1.0 + 2.0 * q).powi(2) - 4.0 * q * q * c * c).sqrt()
}

#[test]
fn erf_matches_the_arcsine_kernel_in_both_phases() {
    for (w, b) in [(1.2, 0.05), (2.0, 0.1), (4.0, 0.05), (6.0, 0.3)] {
        let m = MeanField::at(&Erf, w, b).unwrap();
        let q = root(0.0, 1e3, |q| w * erf_pair(q, 1.0) + b - q);
        assert_rel("q*", m.q_star.unwrap(), q, 1e-9);
        let chi1 = w * erf_slope_pair(q, 1.0);
        assert_rel("χ₁", m.chi_1.unwrap(), chi1, 1e-9);
        let c = if chi1 < 1.0 {
            1.0
        } else {
            // the largest crossing below 1; the map is concave on [0, 1] here, so the only one in (0, 1)
            root(0.0, 1.0 - 1e-6, |c| (w * erf_pair(q, c) + b) / q - c)
        };
        assert_eq!(m.phase, if chi1 < 1.0 { Phase::Ordered } else { Phase::Chaotic }, "σ_w² = {w}");
        assert!((m.c_star.unwrap() - c).abs() <= 1e-9, "c*: {} vs {c}", m.c_star.unwrap());
        let chi_c = w * erf_slope_pair(q, c);
        assert_rel("χ_c", m.chi_c.unwrap(), chi_c, 1e-8);
        assert_rel("ξ_c", m.xi_c.unwrap(), -1.0 / chi_c.ln(), 1e-7);
    }
    // the critical line: χ₁(σ_w², q*(σ_w²)) = 1
    let b = 0.05;
    let w = root(0.1, 10.0, |w| {
        let q = root(0.0, 1e3, |q| w * erf_pair(q, 1.0) + b - q);
        1.0 - w * erf_slope_pair(q, 1.0)
    });
    let m = MeanField::at(&Erf, 1.0, b).unwrap();
    assert_rel("critical σ_w²", m.critical_sigma_w2.unwrap(), w, 1e-8);
}

/// Gauss–Hermite nodes and weights for ∫e^{−x²}g(x)dx (Golub–Welsch would need an eigensolver; this is
/// Newton's method on the orthonormal Hermite recurrence, as in Numerical Recipes' `gauher`).
fn gauss_hermite(n: usize) -> Vec<(f64, f64)> {
    let pim4 = std::f64::consts::PI.powf(-0.25);
    let mut nodes = vec![(0.0, 0.0); n];
    let mut z = 0.0f64;
    for i in 0..n.div_ceil(2) {
        z = match i {
            0 => (2.0 * n as f64 + 1.0).sqrt() - 1.85575 * (2.0 * n as f64 + 1.0).powf(-1.0 / 6.0),
            1 => z - 1.14 * (n as f64).powf(0.426) / z,
            2 => 1.86 * z - 0.86 * nodes[0].0,
            3 => 1.91 * z - 0.91 * nodes[1].0,
            _ => 2.0 * z - nodes[i - 2].0,
        };
        let mut pp = 0.0;
        for _ in 0..200 {
            let (mut p1, mut p2) = (pim4, 0.0);
            for j in 0..n {
                let p3 = p2;
                p2 = p1;
                p1 = z * (2.0 / (j as f64 + 1.0)).sqrt() * p2 - (j as f64 / (j as f64 + 1.0)).sqrt() * p3;
            }
            pp = (2.0 * n as f64).sqrt() * p2;
            let step = p1 / pp;
            z -= step;
            if step.abs() <= 1e-15 * z.abs().max(1.0) {
                break;
            }
        }
        nodes[i] = (z, 2.0 / (pp * pp));
        nodes[n - 1 - i] = (-z, 2.0 / (pp * pp));
    }
    nodes
}

#[test]
fn tanh_agrees_with_an_independent_gauss_hermite_quadrature() {
    // E[g(Z)] = π^{−1/2}·Σ wᵢ·g(√2·xᵢ). tanh is analytic in a strip, where Gauss–Hermite converges
    // geometrically; 160 nodes leave ~1e-11 at these variances.
    let gh = gauss_hermite(160);
    let norm = std::f64::consts::PI.sqrt().recip();
    let e1 = |g: &dyn Fn(f64) -> f64| norm * gh.iter().map(|&(x, w)| w * g(std::f64::consts::SQRT_2 * x)).sum::<f64>();
    let e2 = |q: f64, c: f64, g: &dyn Fn(f64) -> f64| {
        let s = (1.0 - c * c).sqrt();
        let r = q.sqrt();
        e1(&|z1| g(r * z1) * e1(&|z2| g(r * (c * z1 + s * z2))))
    };
    let tanh = Activation::Tanh;
    let dtanh = |u: f64| 1.0 - u.tanh().powi(2);
    // (1.76, 0.05) is near the critical line, the others well inside each phase
    for (w, b) in [(0.8, 0.05), (1.76, 0.05), (2.5, 0.0), (3.0, 0.1), (4.0, 0.05)] {
        let m = MeanField::at(&tanh, w, b).unwrap();
        let q = root(1e-12, 100.0, |q| w * e1(&|z| (q.sqrt() * z).tanh().powi(2)) + b - q);
        assert_rel(&format!("q* at {w}, {b}"), m.q_star.unwrap(), q, 1e-6);
        let chi1 = w * e1(&|z| dtanh(q.sqrt() * z).powi(2));
        assert_rel(&format!("χ₁ at {w}, {b}"), m.chi_1.unwrap(), chi1, 1e-6);
        if chi1 < 1.0 {
            assert_eq!(m.c_star, Some(1.0));
            assert_rel("χ_c = χ₁ in the ordered phase", m.chi_c.unwrap(), chi1, 1e-6);
            continue;
        }
        // the chaotic phase: iterate the correlation map to its fixed point (it converges like χ_c^l)
        let mut c = 0.5;
        for _ in 0..400 {
            let next = (w * e2(q, c, &|u| u.tanh()) + b) / q;
            let done = (next - c).abs() < 1e-15;
            c = next;
            if done {
                break;
            }
        }
        assert!((m.c_star.unwrap() - c).abs() <= 1e-5, "c* at {w}, {b}: {} vs {c}", m.c_star.unwrap());
        let chi_c = w * e2(q, c, &dtanh);
        assert_rel(&format!("χ_c at {w}, {b}"), m.chi_c.unwrap(), chi_c, 1e-5);
        assert_rel(&format!("ξ_c at {w}, {b}"), m.xi_c.unwrap(), -1.0 / chi_c.ln(), 1e-4);
    }
}

#[test]
fn the_maps_agree_with_monte_carlo_for_every_activation() {
    // 400,000 normal draws (Box–Muller from the test stream); each estimate must lie within 5 standard
    // errors of the quadrature (a false failure has probability ~6e-7 per check).
    let mut r = rng(7, Stream::Test);
    let n = 400_000;
    let z: Vec<f64> = (0..n / 2)
        .flat_map(|_| {
            let (u1, u2): (f64, f64) = (1.0 - r.random::<f64>(), r.random::<f64>());
            let rho = (-2.0 * u1.ln()).sqrt();
            let t = 2.0 * std::f64::consts::PI * u2;
            [rho * t.cos(), rho * t.sin()]
        })
        .collect();
    let mc = |g: &dyn Fn(f64) -> f64| {
        let v: Vec<f64> = z.iter().map(|&z| g(z)).collect();
        let mean = v.iter().sum::<f64>() / n as f64;
        let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        (mean, (var / n as f64).sqrt())
    };
    for act in [
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Relu,
        Activation::LeakyRelu(0.2),
        Activation::Elu(1.0),
        Activation::Gelu,
        Activation::Silu,
        Activation::Selu,
    ] {
        let (w, b, q) = (1.3, 0.1, 0.8f64);
        let r = q.sqrt();
        let (mean, se) = mc(&|z| act.value(r * z).powi(2));
        let got = (variance_map(&act, w, b, q) - b) / w;
        assert!((got - mean).abs() <= 5.0 * se, "{act}: E[φ²] {got} vs Monte-Carlo {mean} ± {se}");
        let (mean, se) = mc(&|z| act.slope(r * z).powi(2));
        let got = chi_1(&act, w, q) / w;
        assert!((got - mean).abs() <= 5.0 * se, "{act}: E[φ′²] {got} vs Monte-Carlo {mean} ± {se}");
        // and q* is a fixed point of the map
        if let Some(q) = q_star(&act, w, b) {
            assert_rel(&format!("{act}: q* is fixed"), variance_map(&act, w, b, q), q, 1e-12);
        }
    }
}

#[test]
fn tanh_is_critical_where_the_papers_put_it() {
    // Poole et al. (2016) and Schoenholz et al. (2017) draw tanh's critical line through σ_w² ≈ 1.76 at
    // σ_b² = 0.05, and at σ_w² = 1 for σ_b² = 0 (χ₁ = σ_w²·tanh′(0)² with q* = 0).
    let m = MeanField::at(&Activation::Tanh, 1.76, 0.05).unwrap();
    let critical = m.critical_sigma_w2.unwrap();
    assert!((critical - 1.76).abs() < 0.01, "critical σ_w² {critical}");
    let at = MeanField::at(&Activation::Tanh, critical, 0.05).unwrap();
    assert!((at.chi_1.unwrap() - 1.0).abs() < 1e-8, "{at:?}");
    let zero = MeanField::at(&Activation::Tanh, 0.9, 0.0).unwrap();
    assert_eq!(zero.q_star, Some(0.0));
    assert!((zero.critical_sigma_w2.unwrap() - 1.0).abs() < 1e-6, "{zero:?}");
    // ξ_c grows without bound towards the critical line, from both sides
    let xi = |w: f64| MeanField::at(&Activation::Tanh, w, 0.05).unwrap().xi_c.unwrap();
    assert!(xi(critical - 0.3) < xi(critical - 0.1) && xi(critical - 0.1) < xi(critical - 0.01));
    assert!(xi(critical + 1.0) < xi(critical + 0.1) && xi(critical + 0.1) < xi(critical + 0.01));
}

#[test]
fn theory_prints_the_fields_and_refuses_bad_values() {
    let out = Command::cargo_bin("vanish")
        .unwrap()
        .args(["theory", "--activation", "tanh", "--sigma-w2", "1.76", "--sigma-b2", "0.05", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let m = MeanField::at(&Activation::Tanh, 1.76, 0.05).unwrap();
    for (field, want) in [("q_star", m.q_star), ("chi_1", m.chi_1), ("c_star", m.c_star), ("chi_c", m.chi_c)] {
        assert_eq!(v[field].as_f64(), want, "{field}");
    }
    assert_eq!(v["xi_c"].as_f64(), m.xi_c);
    assert_eq!(v["critical_sigma_w2"].as_f64(), m.critical_sigma_w2);
    assert_eq!(v["activation"], "tanh");
    let text = Command::cargo_bin("vanish")
        .unwrap()
        .args(["theory", "--activation", "relu", "--sigma-w2", "3"])
        .output()
        .unwrap();
    assert!(text.status.success());
    assert!(String::from_utf8_lossy(&text.stdout).contains("unbounded"), "ReLU at σ_w² = 3 has no q*");
    for bad in [["--sigma-w2", "-1"], ["--sigma-w2", "NaN"], ["--sigma-b2", "-0.5"], ["--sigma-w2", "x"]] {
        let out = Command::cargo_bin("vanish").unwrap().arg("theory").args(bad).output().unwrap();
        assert!(!out.status.success(), "{bad:?} was accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("σ_") || err.contains("sigma"), "{bad:?}: {err}");
    }
}

/// Just past the critical line c* lies within 1e-7 of 1; it must still be found there (not at the far
/// end of the bracket), with χ_c just below 1 and a long depth scale.
#[test]
fn c_star_is_found_just_past_the_critical_line() {
    let critical = MeanField::at(&Activation::Tanh, 1.0, 0.05).unwrap().critical_sigma_w2.unwrap();
    for excess in [1e-3, 1e-5, 1e-8] {
        let m = MeanField::at_point(&Activation::Tanh, critical * (1.0 + excess), 0.05).unwrap();
        assert_eq!(m.phase, Phase::Chaotic, "{m:?}");
        let (c, chi_c) = (m.c_star.unwrap(), m.chi_c.unwrap());
        assert!(c > 0.9 && c <= 1.0, "c* {c} at σ_w² = critical·(1 + {excess})");
        assert!(chi_c < 1.0 && chi_c > 0.99, "χ_c {chi_c}");
        assert!(m.xi_c.unwrap() > 100.0, "{m:?}");
    }
}

/// At large variances φ′(√q·z) is a spike of width 1/√q; the quadrature's graded panels keep erf's closed
/// forms to 1e-9 there too.
#[test]
fn large_variances_keep_their_accuracy() {
    for w in [100.0, 1e4] {
        let m = MeanField::at_point(&Erf, w, 0.05).unwrap();
        let q = root(0.0, 1e7, |q| w * erf_pair(q, 1.0) + 0.05 - q);
        assert_rel(&format!("q* at σ_w² {w}"), m.q_star.unwrap(), q, 1e-9);
        assert_rel(&format!("χ₁ at σ_w² {w}"), m.chi_1.unwrap(), w * erf_slope_pair(q, 1.0), 1e-9);
        let c = root(0.0, 1.0 - 1e-9, |c| (w * erf_pair(q, c) + 0.05) / q - c);
        assert!((m.c_star.unwrap() - c).abs() < 1e-9, "c* {} vs {c}", m.c_star.unwrap());
        assert_rel(&format!("χ_c at σ_w² {w}"), m.chi_c.unwrap(), w * erf_slope_pair(q, c), 1e-8);
    }
}
