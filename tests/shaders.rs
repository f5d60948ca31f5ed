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
