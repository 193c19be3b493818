//! `uniffi-bindgen` pinned to hypar's uniffi version (PyPI's is older and
//! cannot read its metadata), built as `hypar-uniffi-bindgen`. Used by the
//! Python package's build and by the freshness checks:
//! `cargo run --release -p uniffi-bindgen -- generate --library target/release/libhypar.so --language kotlin --out-dir DIR`.

fn main() {
    uniffi::uniffi_bindgen_main()
}
