//! `uniffi-bindgen` pinned to hypar's uniffi version (PyPI's is older and
//! cannot read its metadata). Used by maturin and by the freshness checks:
//! `cargo run -p uniffi-bindgen -- generate --library target/release/libhypar.so --language kotlin --out-dir DIR`.

fn main() {
    uniffi::uniffi_bindgen_main()
}
