//! Starting a run from a file (`vanish train --load`): the run's flags describe the network, the file
//! supplies its numbers, and any difference between the two is an error that names both and the flags
//! that would match the file — never a silent reshape.

use crate::model::{Activation, MlpSpec, Norm, Params};

use super::{InterchangeError, TensorFile, read_model};

/// The parameters in `file` for the network `wanted`, and `wanted` with the file's normalisation eps
/// when the file records one. The file's weight shapes, normalisation, output and recorded activations must all
/// match `wanted`; running statistics the file lacks start at 0 and 1.
pub fn load_params_for(file: &TensorFile, wanted: &MlpSpec) -> Result<(MlpSpec, Params), InterchangeError> {
    // Shapes decide the layout; the activation is compared below, so any placeholder will do here.
    let model = read_model(file, Some(&[Activation::Identity]))?;
    let got = &model.spec;
    if got.input != wanted.input {
        return Err(file.model_error(format!(
            "the file's first layer takes {} inputs, but the dataset has {} features",
            got.input, wanted.input
        )));
    }
    if got.output.kind() != wanted.output.kind() {
        return Err(file.model_error(format!(
            "the file's head is {} but the flags ask for {}; run with --output {}",
            got.output.kind(),
            wanted.output.kind(),
            got.output.kind()
        )));
    }
    if got.output != wanted.output {
        return Err(file.model_error(format!(
            "the file's output layer has {} logit(s), but this dataset needs {} ({:?})",
            got.output.width(),
            wanted.output.width(),
            wanted.output
        )));
    }
    let activations = model.recorded.activations.as_ref().unwrap_or(&wanted.activations);
    if got.hidden != wanted.hidden || got.norm != wanted.norm || *activations != wanted.activations {
        let file_spec = MlpSpec { activations: activations.clone(), ..got.clone() };
        let layers: Vec<String> = got.hidden.iter().map(|w| w.to_string()).collect();
        let mut acts: Vec<String> = activations.iter().map(|a| a.to_string()).collect();
        if acts.windows(2).all(|w| w[0] == w[1]) {
            acts.truncate(1);
        }
        return Err(file.model_error(format!(
            "the file holds {} but the flags describe {}; run with --layers {}{} --activation {}",
            file_spec.describe(),
            wanted.describe(),
            layers.join(","),
            if got.norm == Norm::None { String::new() } else { format!(" --norm {}", got.norm) },
            acts.join(",")
        )));
    }
    if let Some(recorded) = model.recorded.residual
        && recorded != wanted.residual
    {
        let flags = recorded.map_or("without --residual".to_string(), |a| format!("--residual --residual-scale {a}"));
        return Err(file.model_error(format!(
            "the file records {} residual connections; run {flags}",
            if recorded.is_some() { "its" } else { "no" }
        )));
    }
    let spec = MlpSpec { bn_eps: got.bn_eps, ..wanted.clone() };
    let mut params = model.params_f32(file)?;
    params.layout = spec.layout();
    Ok((spec, params))
}
