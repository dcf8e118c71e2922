//! The command line of the examples: an output folder (the first argument not starting with `--`, else a
//! default) and `--quick` (a fast mode, used by CI).

/// (output folder, quick mode).
pub fn example_args(default_out: &str) -> (String, bool) {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let out = args
        .iter()
        .find(|a| !a.starts_with("--"))
        .cloned()
        .unwrap_or_else(|| default_out.to_string());
    (out, quick)
}
