use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // tract builds and discards errors on its normal paths; with RUST_BACKTRACE set, each would capture
    // a backtrace (measured: scoring 40× slower). Library backtraces stay off unless asked for by
    // RUST_LIB_BACKTRACE; panics still honour RUST_BACKTRACE.
    if std::env::var_os("RUST_LIB_BACKTRACE").is_none() {
        // SAFETY: no other thread exists yet.
        unsafe { std::env::set_var("RUST_LIB_BACKTRACE", "0") };
    }
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .init();
    match sensor::cli::run(sensor::cli::Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
