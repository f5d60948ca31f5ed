//! Every WGSL module parses and validates with naga as it is compiled (the maths prelude composed
//! before the kernels that use it), so a shader error fails here even without an adapter; and the
//! maths has one source: no kernel file spells out a function or constant of the prelude.

use vanish::gpu::{BATCH, BATCH_FILE, PRELUDE, PRELUDE_FILE, Shader};

fn validate(name: &str, source: &str) -> naga::Module {
    let module =
        naga::front::wgsl::parse_str(source).unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(source)));
    naga::valid::Validator::new(naga::valid::ValidationFlags::all(), naga::valid::Capabilities::default())
        .validate(&module)
        .unwrap_or_else(|e| panic!("{name}: {e:?}"));
    module
}

#[test]
fn every_shader_parses_and_validates_as_composed() {
    for shader in Shader::ALL {
        let module = validate(shader.file_name(), shader.source());
        assert!(!module.entry_points.is_empty(), "{} has no entry point", shader.file_name());
        assert_eq!(shader.source().starts_with(PRELUDE), shader.uses_prelude(), "{}", shader.file_name());
        assert_eq!(shader.source().contains(BATCH), shader.uses_batch(), "{}", shader.file_name());
    }
    validate(PRELUDE_FILE, PRELUDE);
    validate(BATCH_FILE, &format!("{PRELUDE}\n{BATCH}"));
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
    known.push(PRELUDE_FILE.to_string());
    known.push(BATCH_FILE.to_string());
    known.sort();
    assert_eq!(on_disk, known, "every file in shaders/ must be compiled in through Shader");
}

/// The prelude's functions and constants are defined once: in the prelude. A kernel file that
/// defined one again would not even compose (WGSL refuses a second definition), and one that spelled a
/// formula out under another name is what this guards against for the names that matter.
#[test]
fn the_maths_has_one_source() {
    let prelude = validate(PRELUDE_FILE, PRELUDE);
    let mut names: Vec<String> = prelude.functions.iter().filter_map(|(_, f)| f.name.clone()).collect();
    names.extend(prelude.constants.iter().filter_map(|(_, c)| c.name.clone()));
    for must in ["act_forward", "act_grad", "bce_loss", "bce_grad", "softmax_grad", "sgd_velocity", "adam_m"] {
        assert!(names.iter().any(|n| n == must), "the prelude defines {must}");
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
    for shader in Shader::ALL {
        let raw = std::fs::read_to_string(dir.join(shader.file_name())).unwrap();
        for name in &names {
            for definition in [format!("fn {name}("), format!("const {name}:")] {
                assert!(!raw.contains(&definition), "{} defines {name} again", shader.file_name());
            }
        }
        // Formulas the prelude owns, spelled out inline.
        for formula in ["1.0 / (1.0 + exp(", "log(1.0 + exp(-abs("] {
            assert!(!raw.contains(formula), "{} spells out `{formula}`", shader.file_name());
        }
    }
}

/// Both kernel families declare the batch's uniform tables at the sizes the host fills and packs
/// batches for (batch.wgsl, which each is composed after).
#[test]
fn the_batch_tables_have_the_hosts_sizes() {
    use vanish::gpu::batch::{MAX_LAYERS, MAX_MODELS};
    for shader in [Shader::Fused, Shader::Tiled] {
        for (name, n) in [("MAX_MODELS", MAX_MODELS), ("MAX_LAYERS", MAX_LAYERS)] {
            let line = format!("const {name}: u32 = {n}u;");
            assert!(shader.source().contains(&line), "{} should declare `{line}`", shader.file_name());
        }
    }
    // and 64 KiB each, WebGPU's default uniform binding limit
    assert_eq!(MAX_MODELS, 409);
    assert_eq!(MAX_LAYERS, 682);
}
