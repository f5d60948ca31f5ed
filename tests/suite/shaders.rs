//! Every WGSL module parses and validates with naga as it is compiled (the maths prelude composed
//! before the kernels that use it), so a shader error fails here even without an adapter; and the
//! maths has one source: no kernel file spells out a function or constant of the prelude.

use vanish::gpu::{BATCH, BATCH_FILE, PRELUDE, PRELUDE_FILE, STORAGE_LAYERS, Shader, UNIFORM_LAYERS, shared_constants};

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
        let module = validate(shader.file_name(), &shader.source());
        assert!(!module.entry_points.is_empty(), "{} has no entry point", shader.file_name());
        assert_eq!(shader.source().starts_with(PRELUDE), shader.uses_prelude(), "{}", shader.file_name());
        match shader.shallow() {
            // The storage-table variants differ from their kernel in the layer table's declaration only.
            Some(shallow) => {
                assert!(shader.source().contains(STORAGE_LAYERS) && !shader.source().contains(UNIFORM_LAYERS));
                assert_eq!(shader.source().replace(STORAGE_LAYERS, UNIFORM_LAYERS), shallow.source());
            }
            None => assert_eq!(shader.source().contains(BATCH), shader.uses_batch(), "{}", shader.file_name()),
        }
    }
    validate(PRELUDE_FILE, PRELUDE);
    validate(BATCH_FILE, &format!("{PRELUDE}\n{}\n{BATCH}", shared_constants()));
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
    known.dedup(); // the storage-table variants compile their kernel's file
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
    for must in [
        "act_forward",
        "act_grad",
        "bce_loss",
        "bce_grad",
        "log_sum_exp",
        "softmax_grad",
        "sgd_velocity",
        "adam_m",
        "norm_forward",
        "norm_backward",
        "running_update",
    ] {
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
        for formula in [
            "1.0 / (1.0 + exp(",
            "log(1.0 + exp(-abs(",
            "inverseSqrt(",
            "+ log(sum",
            "(1.0 - p.momentum)",
            "(1.0 - md.bn_momentum)",
        ] {
            assert!(!raw.contains(formula), "{} spells out `{formula}`", shader.file_name());
        }
    }
}

/// The constants the host and the batch kernels share are written once, in Rust: both kernel families
/// are compiled with them, and no WGSL file spells one out.
#[test]
fn the_shared_constants_are_written_once() {
    use vanish::gpu::batch::{MAX_LAYERS, MAX_MODELS, REDUCTION_FLOATS};
    let shared = shared_constants();
    for (name, n) in [("MAX_MODELS", MAX_MODELS), ("MAX_LAYERS", MAX_LAYERS), ("REDUCTION_FLOATS", REDUCTION_FLOATS)] {
        let line = format!("const {name}: u32 = {n}u;");
        assert!(shared.contains(&line), "the shared constants should declare `{line}`");
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
    for shader in [Shader::Fused, Shader::Tiled] {
        assert!(shader.source().contains(&shared), "{} is compiled with the shared constants", shader.file_name());
        for file in [shader.file_name(), BATCH_FILE] {
            let raw = std::fs::read_to_string(dir.join(file)).unwrap();
            for line in shared.lines().filter(|l| l.starts_with("const ")) {
                let name = line.split(':').next().unwrap();
                assert!(!raw.contains(&format!("{name}:")), "{file} spells out `{name}`");
            }
        }
    }
    // and 64 KiB each, WebGPU's default uniform binding limit (176-byte model entries)
    assert_eq!(MAX_MODELS, 372);
    assert_eq!(MAX_LAYERS, 682);
}

/// The host's mirrors of batch.wgsl's structs have its sizes and member offsets, so that a field added
/// on one side only fails here rather than shifting every field after it on the GPU.
#[test]
fn the_batch_structs_match_their_host_mirrors() {
    use vanish::gpu::batch::{LayerDesc, LayerStats, ModelDesc, PassTotals, Totals};
    let module = validate(BATCH_FILE, &format!("{PRELUDE}\n{}\n{BATCH}", shared_constants()));
    let span_of = |name: &str| {
        module
            .types
            .iter()
            .find_map(|(_, t)| match &t.inner {
                naga::TypeInner::Struct { members, span } if t.name.as_deref() == Some(name) => {
                    Some((*span as usize, members.iter().map(|m| m.offset as usize).collect::<Vec<_>>()))
                }
                _ => None,
            })
            .unwrap_or_else(|| panic!("batch.wgsl defines struct {name}"))
    };
    for (name, size, fields) in [
        ("ModelDesc", size_of::<ModelDesc>(), size_of::<ModelDesc>() / 4),
        ("LayerDesc", size_of::<LayerDesc>(), size_of::<LayerDesc>() / 4),
        ("LayerStats", size_of::<LayerStats>(), size_of::<LayerStats>() / 4),
        ("PassTotals", size_of::<PassTotals>(), size_of::<PassTotals>() / 4),
    ] {
        let (span, offsets) = span_of(name);
        assert_eq!(span, size, "{name}: WGSL size {span}, Rust size {size}");
        // Every field is a 4-byte scalar on both sides, laid out one after another.
        assert_eq!(offsets, (0..fields).map(|i| 4 * i).collect::<Vec<_>>(), "{name}'s member offsets");
    }
    assert_eq!(size_of::<Totals>(), 3 * size_of::<PassTotals>());
}

/// Every float literal in the shaders is one f32 can hold. naga rounds a literal past f32::MAX to it;
/// Chrome's WGSL compiler (Tint) refuses the whole module, so this found 3.4028235e38 only in the page.
#[test]
fn float_literals_fit_f32() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let code: String = text.lines().map(|l| l.split("//").next().unwrap_or("")).collect::<Vec<_>>().join("\n");
        for word in code.split(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '+')) {
            let literal = word.trim_end_matches('f');
            if literal.contains(['.', 'e'])
                && literal.chars().next().is_some_and(|c| c.is_ascii_digit())
                && let Ok(v) = literal.parse::<f64>()
            {
                assert!(v.abs() <= f32::MAX as f64, "{}: {word} is past f32::MAX", path.display());
            }
        }
    }
}
