//! The `stein` command line (in progress).
fn main() {
    eprintln!("stein: the command line is not built yet; try `cargo run --release --example bench_report`");
    std::process::exit(2);
}
