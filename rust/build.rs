//! Link arguments that tch's own build script cannot pass on to a downstream cdylib.

use std::env;
use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=rust/build.rs");
    // Set by torch-sys (links = "tch"), which is a direct dependency for this reason.
    let libtorch_lib = env::var("DEP_TCH_LIBTORCH_LIB")
        .expect("DEP_TCH_LIBTORCH_LIB is unset: build with LIBTORCH_USE_PYTORCH=1 and torch==2.11.0 installed");

    println!("cargo:rustc-env=SIMPLE_TORCH_LIBTORCH_VERSION={}", libtorch_version(&libtorch_lib));

    // Without --no-as-needed the linker drops libtorch_cuda (no symbol of ours refers to it),
    // and libtorch then reports CUDA as unavailable even on a GPU machine (tch-rs #907, #980).
    println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
    if Path::new(&libtorch_lib).join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-arg=-ltorch_cuda");
    }
    println!("cargo:rustc-link-arg=-ltorch");

    // The installed wheel puts us at site-packages/simple_torch/_lib/libsimple_torch.so, beside
    // site-packages/torch/lib: a C program linking the installed .so finds libtorch by itself.
    println!("cargo:rustc-link-arg-cdylib=-Wl,-rpath,$ORIGIN/../../torch/lib");
    // Rust test binaries (tests/*.rs) run from the build tree: point them at the build's libtorch.
    println!("cargo:rustc-link-arg-tests=-Wl,-rpath,{libtorch_lib}");
}

/// The release of the libtorch we link, from the torch wheel's version.py
/// (`__version__ = '2.11.0+cu130'` gives "2.11.0").
fn libtorch_version(libtorch_lib: &str) -> String {
    let version_py = Path::new(libtorch_lib).join("../version.py");
    println!("cargo:rerun-if-changed={}", version_py.display());
    let text = std::fs::read_to_string(&version_py).unwrap_or_default();
    text.lines()
        .find_map(|line| line.strip_prefix("__version__ = "))
        .map(|v| v.trim_matches(|c| c == '\'' || c == '"').split('+').next().unwrap_or("").to_owned())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}
