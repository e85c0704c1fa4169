//! Records the target triple: `sim::verilator` compiles C++ with the `cc` crate at run time,
//! outside a build script, where cargo's `TARGET` is not set.
fn main() {
    let target = std::env::var("TARGET").unwrap_or_else(|_| "x86_64-unknown-linux-gnu".into());
    println!("cargo:rustc-env=XNORFLOW_TARGET={target}");
    println!("cargo:rerun-if-changed=build.rs");
}
