//! Every WGSL file parses and validates with naga: a shader error fails here even without an adapter.

use vanish::gpu::Shader;

#[test]
fn every_shader_parses_and_validates() {
    for shader in Shader::ALL {
        let module = naga::front::wgsl::parse_str(shader.source())
            .unwrap_or_else(|e| panic!("{}: {}", shader.file_name(), e.emit_to_string(shader.source())));
        naga::valid::Validator::new(naga::valid::ValidationFlags::all(), naga::valid::Capabilities::default())
            .validate(&module)
            .unwrap_or_else(|e| panic!("{}: {e:?}", shader.file_name()));
        assert!(!module.entry_points.is_empty(), "{} has no entry point", shader.file_name());
    }
}

/// The per-lane kernel generated for awkward shapes parses and validates: both losses, both
/// optimisers, every activation, activations that differ per layer and per model.
#[test]
fn generated_per_lane_kernels_parse_and_validate() {
    use vanish::engine::Optimizer;
    use vanish::gpu::fused_lanes::kernel_source;
    use vanish::model::{Activation, MlpSpec, Output};
    let mut per_layer = MlpSpec::new(3, &[4, 5, 2], Activation::Elu(1.0), Output::Softmax(4));
    per_layer.activations[1] = Activation::LeakyRelu(0.2);
    let models: Vec<MlpSpec> = Activation::ALL.iter().map(|&a| MlpSpec::new(2, &[3, 3], a, Output::Binary)).collect();
    for (specs, optimizer) in [
        (vec![per_layer], Optimizer::sgd(0.1, 0.9)),
        (models, Optimizer::adam(1e-3)),
        (vec![MlpSpec::new(1, &[1], Activation::Identity, Output::Binary)], Optimizer::adam(1e-3)),
    ] {
        let source = kernel_source(&specs, &optimizer);
        let module = naga::front::wgsl::parse_str(&source)
            .unwrap_or_else(|e| panic!("{}: {}", specs[0].describe(), e.emit_to_string(&source)));
        naga::valid::Validator::new(naga::valid::ValidationFlags::all(), naga::valid::Capabilities::default())
            .validate(&module)
            .unwrap_or_else(|e| panic!("{}: {e:?}", specs[0].describe()));
        for marker in ["//%DECLS%", "//%LOAD%", "//%ZERO%", "//%ROW%", "//%UPDATE%", "//%STORE%"] {
            assert!(Shader::FusedLanes.source().contains(marker) && !source.contains(marker), "{marker} filled in");
        }
        let mixed = specs.len() > 1;
        assert_eq!(source.contains("acts[model *"), mixed, "the activation table is read only when models differ");
    }
}

#[test]
fn every_wgsl_file_is_known() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
    let mut on_disk: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".wgsl"))
        .collect();
    on_disk.sort();
    let mut known: Vec<String> = Shader::ALL.iter().map(|s| s.file_name().to_string()).collect();
    known.sort();
    assert_eq!(on_disk, known, "every file in shaders/ must be compiled in through Shader");
}

/// The body of `fn name` in a WGSL source: from its signature to the first line that is just `}`.
fn wgsl_fn<'a>(source: &'a str, name: &str) -> &'a str {
    let start = source.find(&format!("fn {name}(")).unwrap_or_else(|| panic!("no fn {name}"));
    let end = source[start..].find("\n}\n").unwrap_or_else(|| panic!("fn {name} has no end")) + start;
    &source[start..end]
}

/// WGSL has no includes, so the fused and dense kernels carry their own copies of the activation functions;
/// they must stay identical to activation.wgsl's, which the kernel tests check against the reference.
#[test]
fn fused_kernel_activation_copies_match_activation_wgsl() {
    for copy in [Shader::Fused, Shader::FusedLanes, Shader::Dense] {
        for name in ["sigmoid", "safe_tanh", "act_forward", "act_grad"] {
            assert_eq!(
                wgsl_fn(copy.source(), name),
                wgsl_fn(Shader::Activation.source(), name),
                "{}'s {name} differs from activation.wgsl's",
                copy.file_name()
            );
        }
        for constant in ["const GELU_C: f32 = 0.7978845608028654;", "const GELU_A: f32 = 0.044715;"] {
            assert!(copy.source().contains(constant) && Shader::Activation.source().contains(constant));
        }
    }
}
