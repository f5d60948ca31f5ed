//! Losses from logits, the mean over the batch, f64: the CPU twins of `shaders/loss.wgsl`.
//! Each returns (loss, number correct) and writes dL/dlogits, already divided by the batch size.

/// logits [n], y [n] 0/1 labels as f64. loss = mean(softplus(z) − y·z) computed stably
/// (max(z,0) − y·z + ln(1 + e^{−|z|})); dlogits = (σ(z) − y)/n; correct counts z > 0 ⇔ y = 1
/// (z == 0 predicts 0).
pub fn bce_with_logits(dlogits: &mut [f64], logits: &[f64], y: &[f64], n: usize) -> (f64, usize) {
    assert_eq!(logits.len(), n, "logits is [n]");
    assert_eq!(y.len(), n, "y is [n]");
    assert_eq!(dlogits.len(), n, "dlogits is [n]");
    let mut total = 0.0;
    let mut correct = 0;
    for i in 0..n {
        let (loss, grad) = bce(logits[i], y[i]);
        total += loss;
        dlogits[i] = grad / n as f64;
        if (logits[i] > 0.0) == (y[i] == 1.0) {
            correct += 1;
        }
    }
    (total / n as f64, correct)
}

/// One logit's binary cross-entropy against y and its derivative σ(z) − y.
fn bce(z: f64, y: f64) -> (f64, f64) {
    // softplus(z) = max(z,0) + ln(1 + e^{−|z|}): e^{−|z|} ≤ 1, so nothing overflows
    let loss = z.max(0.0) - y * z + (-z.abs()).exp().ln_1p();
    let sigma = if z >= 0.0 { 1.0 / (1.0 + (-z).exp()) } else { z.exp() / (1.0 + z.exp()) };
    (loss, sigma - y)
}

/// The first largest of a row of logits: the predicted class.
fn argmax(row: &[f64]) -> usize {
    (1..row.len()).fold(0, |best, c| if row[c] > row[best] { c } else { best })
}

/// logits [n,k], labels [n] in 0..k. loss = mean(logsumexp(z) − z[label]) (stable, max-subtracted);
/// dlogits = (softmax − onehot)/n; correct = argmax (first max on ties) == label.
pub fn softmax_cross_entropy(dlogits: &mut [f64], logits: &[f64], labels: &[u32], n: usize, k: usize) -> (f64, usize) {
    assert_eq!(logits.len(), n * k, "logits is [n,k]");
    assert_eq!(labels.len(), n, "labels is [n]");
    assert_eq!(dlogits.len(), n * k, "dlogits is [n,k]");
    let mut total = 0.0;
    let mut correct = 0;
    for i in 0..n {
        let row = &logits[i * k..(i + 1) * k];
        let label = labels[i] as usize;
        assert!(label < k, "label {label} of row {i} is not below {k} classes");
        let argmax = argmax(row);
        let max = row[argmax];
        // subtracting the max makes every exponent ≤ 0, so the sum is in [1, k]
        let mut sum_exp = 0.0;
        for c in 0..k {
            sum_exp += (row[c] - max).exp();
        }
        // logsumexp(z) − z[label] = ln Σ e^{z−max} − (z[label] − max): subtracting before adding
        // back avoids cancelling two large numbers when the logits are large
        total += sum_exp.ln() - (row[label] - max);
        for c in 0..k {
            let softmax = (row[c] - max).exp() / sum_exp;
            let onehot = if c == label { 1.0 } else { 0.0 };
            dlogits[i * k + c] = (softmax - onehot) / n as f64;
        }
        if argmax == label {
            correct += 1;
        }
    }
    (total / n as f64, correct)
}

/// logits [n,k], labels [n] in 0..k: k independent sigmoid outputs against the one-hot label, each with
/// binary cross-entropy, summed over the outputs and averaged over the rows (Nielsen's cost).
/// dlogits = (σ(z) − onehot)/n; correct = argmax (first max on ties) == label, as for softmax.
pub fn sigmoid_cross_entropy(dlogits: &mut [f64], logits: &[f64], labels: &[u32], n: usize, k: usize) -> (f64, usize) {
    assert_eq!(logits.len(), n * k, "logits is [n,k]");
    assert_eq!(labels.len(), n, "labels is [n]");
    assert_eq!(dlogits.len(), n * k, "dlogits is [n,k]");
    let mut total = 0.0;
    let mut correct = 0;
    for i in 0..n {
        let label = labels[i] as usize;
        assert!(label < k, "label {label} of row {i} is not below {k} classes");
        for c in 0..k {
            let (loss, grad) = bce(logits[i * k + c], f64::from(u8::from(c == label)));
            total += loss;
            dlogits[i * k + c] = grad / n as f64;
        }
        if argmax(&logits[i * k..(i + 1) * k]) == label {
            correct += 1;
        }
    }
    (total / n as f64, correct)
}

/// The loss of `output` on logits [n, output.width()] and labels [n]: (mean loss, correct), with
/// dL/dlogits written, already divided by n.
pub fn output_loss(
    output: crate::model::Output,
    dlogits: &mut [f64],
    logits: &[f64],
    labels: &[u32],
    n: usize,
) -> (f64, usize) {
    use crate::model::Output;
    match output {
        Output::Binary => {
            let y: Vec<f64> = labels.iter().map(|&l| l as f64).collect();
            bce_with_logits(dlogits, logits, &y, n)
        }
        Output::Softmax(k) => softmax_cross_entropy(dlogits, logits, labels, n, k),
        Output::SigmoidCe(k) => sigmoid_cross_entropy(dlogits, logits, labels, n, k),
    }
}
