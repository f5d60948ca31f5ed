//! `vanish grads`: the loss, logits and every gradient of the batch in a safetensors file, for comparing
//! vanish with another framework. The network is inferred from the file's shapes; the activation comes
//! from its `spec` metadata or `--activation`. f32 on the GPU, f64 with `--device cpu`.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use serde::Serialize;

use super::args::{DeviceArgs, make_engine, open_device, parse_activation};
use super::report_out::print_stdout;
use crate::engine::{ModelJob, Optimizer, TrainConfig};
use crate::interchange::{
    BatchGradients, Manifest, Precision, TensorFile, engine_gradients, gradient_norms, gradient_norms_metadata,
    gradient_tensors, read_batch, read_model, reference_gradients, write_tensors,
};
use crate::model::Activation;
use crate::output::Destination;
use crate::report::table::sci;

#[derive(Args, Debug)]
pub struct GradsArgs {
    /// Safetensors file with the weights (`layers.{i}.weight` [out,in], …) and a batch (`x` [N,in], `y` [N])
    #[arg(long, value_name = "FILE")]
    pub load: PathBuf,
    /// Hidden activations, one or one per layer (default: the file's `spec` metadata, which this overrides)
    #[arg(long, value_delimiter = ',', value_parser = parse_activation)]
    pub activation: Option<Vec<Activation>>,
    /// The network has skip connections (they leave no tensors: default from the file's `spec`)
    #[arg(long)]
    pub residual: bool,
    /// The skip connections' α (default: the file's `residual_scale`, else 1)
    #[arg(long, value_name = "ALPHA", requires = "residual", allow_negative_numbers = true)]
    pub residual_scale: Option<f64>,
    /// Write `loss`, `logits` and `grad.<name>` for every parameter here (safetensors; f32 from the GPU,
    /// f64 from the CPU reference)
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub device: DeviceArgs,
    /// Print a JSON summary (loss and each gradient's norm)
    #[arg(long)]
    pub json: bool,
    /// Replace an --out file that holds something else (another command's output, or a file vanish did not
    /// write)
    #[arg(long)]
    pub force: bool,
}

#[derive(Serialize)]
struct Summary<'a> {
    engine: &'a str,
    spec: String,
    rows: usize,
    loss: f64,
    grad_norms: Vec<(String, f64)>,
    out: Option<&'a PathBuf>,
}

pub fn run(args: GradsArgs) -> Result<()> {
    let file = TensorFile::read(&args.load)?;
    let mut model = read_model(&file, args.activation.as_deref())?;
    if args.residual {
        let alpha = args.residual_scale.or(model.spec.residual).unwrap_or(1.0);
        model.spec.residual = Some(alpha);
        model.spec.validate().map_err(anyhow::Error::msg)?;
    }
    if args.activation.is_some()
        && let Some(recorded) = &model.recorded.activations
        && *recorded != model.spec.activations
    {
        let names: Vec<String> = recorded.iter().map(|a| a.to_string()).collect();
        eprintln!("warning: --activation overrides the activations the file records ({})", names.join(","));
    }
    let batch = read_batch(&file, &model.spec)?;
    let spec = &model.spec;
    let manifest = |adapter: &str| Manifest {
        spec: spec.clone(),
        seed: None,
        adapter: adapter.into(),
        content: "gradients".into(),
        settings: None,
    };
    if let Some(out) = &args.out {
        let destination = [Destination::file("--out", out)];
        crate::output::check(&destination, &[("--load", &args.load)], args.force, &|d| {
            manifest("").matches_file(&d.path)
        })?;
    }

    let gpu = open_device(&args.device)?;
    let (engine_name, grads): (String, BatchGradients) = match &gpu {
        // The reference runs on the file's own numbers in f64, not through the f32 `Params` the engines share.
        None => ("cpu reference (f64)".into(), reference_gradients(&model, &batch)),
        Some(_) => {
            batch.check_f32(&file, spec)?;
            let params = model.params_f32(&file)?;
            let data = batch.dataset(spec);
            let empty = crate::data::Dataset { x: Vec::new(), y: Vec::new(), ..data.clone() };
            // One batch of all N rows; the optimiser is never used (a probe does not update).
            let cfg = TrainConfig::new(Optimizer::sgd(0.1, 0.0), batch.rows);
            let job = ModelJob { spec: spec.clone(), params, train: &data, test: &empty, cfg };
            let mut engine = make_engine(gpu.as_ref(), &job)?;
            let g = engine_gradients(engine.as_mut(), Precision::F32)?;
            (engine.name(), g)
        }
    };

    if let Some(out) = &args.out {
        let mut metadata = manifest(&engine_name).to_metadata();
        metadata.extend(gradient_norms_metadata(spec, &grads));
        metadata.insert("input".into(), args.load.display().to_string());
        write_tensors(out, &gradient_tensors(spec, &grads), grads.precision, metadata)?;
    }
    let summary = Summary {
        engine: &engine_name,
        spec: spec.describe(),
        rows: batch.rows,
        loss: grads.loss,
        grad_norms: gradient_norms(spec, &grads),
        out: args.out.as_ref(),
    };
    if args.json {
        print_stdout(&format!("{}\n", serde_json::to_string_pretty(&summary)?))
    } else {
        print_stdout(&summary_text(&summary))
    }
}

fn summary_text(s: &Summary<'_>) -> String {
    use std::fmt::Write;
    let mut text = String::new();
    let _ = writeln!(text, "{} on a batch of {} rows, {}", s.spec, s.rows, s.engine);
    let _ = writeln!(text, "loss {}", s.loss);
    let _ = writeln!(text, "{:<28} {:>10}", "gradient", "norm");
    for (name, norm) in &s.grad_norms {
        let _ = writeln!(text, "{:<28} {:>10}", format!("grad.{name}"), sci(*norm));
    }
    if let Some(out) = s.out {
        let _ = writeln!(text, "wrote {}", out.display());
    }
    text
}
