use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    coffer::telemetry::init();
    let cli = coffer::cli::Cli::parse();
    match coffer::cli::run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let code = e.code();
            let name = serde_json::to_value(code)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            match code {
                api_spec::ErrorCode::Internal => eprintln!("coffer: {e} [{name}]"),
                _ => eprintln!("coffer: {} [{name}]", code.message()),
            }
            ExitCode::FAILURE
        }
    }
}
