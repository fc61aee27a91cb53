//! `aurras-ingestor bench`: backfills a range of blocks in separate passes and prints what each
//! costs, so the bottleneck is visible: fetching from the node, decoding in memory, producing the
//! decoded envelopes (acknowledged), and the whole path as `ingest` runs it.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use aurras_domain::envelope::Envelope;
use aurras_domain::names::ChainName;

use crate::chain::{Chain, Endpoint, RpcBackend};
use crate::sink::{KafkaSink, TopicSettings};

/// Flags of `bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// The chain's name (prefixes the topics).
    #[arg(long)]
    pub chain: String,
    /// A WebSocket RPC endpoint.
    #[arg(long)]
    pub rpc: String,
    /// Which JSON-RPC API to use.
    #[arg(long, value_enum, default_value = "default")]
    pub rpc_backend: RpcBackend,
    /// First block of the range.
    #[arg(long)]
    pub from_block: u64,
    /// Last block of the range (default: the finalized head).
    #[arg(long)]
    pub to_block: Option<u64>,
    /// Brokers for the produce passes; without them only decoding is measured.
    #[arg(long)]
    pub brokers: Option<String>,
}

fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn row(name: &str, blocks: u64, events: usize, took: Duration) -> String {
    let secs = took.as_secs_f64().max(1e-9);
    format!(
        "| {name:<16} | {blocks:>6} | {events:>7} | {:>8.2} | {:>9.0} | {:>8.1} |",
        secs,
        events as f64 / secs,
        blocks as f64 / secs
    )
}

/// Runs the benchmark and prints a table.
pub async fn run(args: BenchArgs) -> Result<()> {
    let name = ChainName::parse(&args.chain).map_err(|m| anyhow::anyhow!("--chain: {m}"))?;
    let endpoint = Endpoint::Rpc {
        urls: vec![args.rpc.clone()],
        backend: args.rpc_backend,
    };
    let chain = Chain::connect(name, &endpoint, None).await?;
    let to = match args.to_block {
        Some(n) => n,
        None => chain.finalized_head().await?,
    };
    let blocks = to.saturating_sub(args.from_block) + 1;

    // Fetch only: the chain's side (block hash, runtime version, events storage).
    let started = Instant::now();
    let mut fetched = Vec::new();
    let mut parent = if args.from_block > 0 {
        Some(chain.at(args.from_block - 1).await?)
    } else {
        None
    };
    for n in args.from_block..=to {
        let at = chain.at(n).await?;
        let raw = chain.fetch_events(&at).await?;
        fetched.push((parent.replace(at.clone()), at, raw));
    }
    let fetch = started.elapsed();

    // Decode only: SCALE to envelopes, in memory.
    let started = Instant::now();
    let mut envelopes: Vec<Envelope> = Vec::new();
    for (parent, at, raw) in fetched {
        envelopes.extend(chain.decode_events(&at, parent.as_ref(), raw)?.envelopes);
    }
    let decode = started.elapsed();
    let mut rows = vec![
        row("fetch (RPC)", blocks, envelopes.len(), fetch),
        row("decode", blocks, envelopes.len(), decode),
    ];

    if let Some(brokers) = &args.brokers {
        let mut sink = KafkaSink::new(
            brokers,
            TopicSettings {
                partitions: 1,
                replication: 1,
            },
        )?;
        let topics = envelopes
            .iter()
            .filter_map(|e| e.topic())
            .map(|t| t.to_string())
            .collect();
        sink.ensure_topics(&topics)
            .await
            .context("creating topics")?;
        let started = Instant::now();
        let mut by_block: Vec<Vec<&Envelope>> = Vec::new();
        for e in &envelopes {
            match by_block.last_mut() {
                Some(block) if block[0].block.number == e.block.number => block.push(e),
                _ => by_block.push(vec![e]),
            }
        }
        for block in &by_block {
            sink.produce(block).await?;
        }
        rows.push(row(
            "produce (acked)",
            blocks,
            envelopes.len(),
            started.elapsed(),
        ));

        let started = Instant::now();
        let mut count = 0;
        let mut parent = if args.from_block > 0 {
            Some(chain.at(args.from_block - 1).await?)
        } else {
            None
        };
        for n in args.from_block..=to {
            let at = chain.at(n).await?;
            let block = chain.block_events(&at, parent.as_ref()).await?;
            let refs: Vec<&Envelope> = block.envelopes.iter().collect();
            sink.produce(&refs).await?;
            count += refs.len();
            parent = Some(at);
        }
        rows.push(row("whole path", blocks, count, started.elapsed()));
    }

    println!(
        "Ingest benchmark: blocks {}..={to} of {}",
        args.from_block, args.rpc
    );
    println!();
    println!("| pass             | blocks |  events |  seconds |  events/s | blocks/s |");
    println!("|------------------|-------:|--------:|---------:|----------:|---------:|");
    for r in rows {
        println!("{r}");
    }
    if let Some(rss) = peak_rss_mib() {
        println!();
        println!("peak RSS: {rss:.1} MiB");
    }
    Ok(())
}
