//! The checked-in `include/hypar.h` must be what cbindgen generates from the
//! sources today. `HYPAR_BLESS=1` rewrites it instead of failing.

use std::path::Path;

#[test]
fn the_checked_in_header_is_fresh() {
    let krate = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = krate.join("../..");
    let config = cbindgen::Config::from_file(root.join("cbindgen.toml")).expect("cbindgen.toml");
    let mut fresh = Vec::new();
    cbindgen::Builder::new()
        .with_crate(krate)
        .with_config(config)
        .generate()
        .expect("cbindgen failed on crates/ffi")
        .write(&mut fresh);
    let fresh = String::from_utf8(fresh).unwrap();
    let path = root.join("include/hypar.h");
    if std::env::var_os("HYPAR_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &fresh).unwrap();
        return;
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == fresh,
        "include/hypar.h is stale: run `HYPAR_BLESS=1 cargo test --release -p hypar-ffi --test c_header` and commit it"
    );
}
