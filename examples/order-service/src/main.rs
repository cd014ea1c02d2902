//! Starts the order service: `cargo run -p order-service [-- --listen ADDR --config FILE]`.

use clap::Parser;
use rampart::registry::ConfigFile;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

/// The seeds' order service behind rampart, with its dependencies simulated.
#[derive(Debug, Parser)]
struct Args {
    /// Address the shop listens on.
    #[arg(long, default_value = "127.0.0.1:3000")]
    listen: SocketAddr,
    /// The pipelines of payment, inventory and notification.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../../config/shop.toml"))]
    config: PathBuf,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let file = match ConfigFile::read(&args.config) {
        Ok(file) => file,
        Err(err) => {
            eprintln!("{err}");
            return ExitCode::from(2);
        }
    };
    let running = match order_service::start(args.listen, &file).await {
        Ok(running) => running,
        Err(err) => {
            eprintln!("cannot start: {err}");
            return ExitCode::FAILURE;
        }
    };
    let shop = running.addr;
    println!(
        "order service on http://{shop} (dependencies simulated on {})",
        running.upstream
    );
    println!("  curl http://{shop}/products/7");
    println!("  curl -X POST http://{shop}/checkout -H 'content-type: application/json' -H 'idempotency-key: k1' -d '{{\"order_id\":\"1\",\"product\":\"7\",\"cents\":12900}}'");
    println!("  curl -X PUT http://{shop}/admin/faults/payment -H 'content-type: application/json' -d '{{\"latency_ms\":5000}}'");
    println!("  curl http://{shop}/health/ready");
    println!("stop with ctrl-c");
    match tokio::signal::ctrl_c().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("cannot wait for ctrl-c: {err}");
            ExitCode::FAILURE
        }
    }
}
