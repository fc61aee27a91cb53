//! `aurras-ingestor bench`: backfills a range of blocks in separate passes and prints what each
//! costs, so the bottleneck is visible: fetching from the node (several blocks at once), decoding
//! in memory, producing the decoded envelopes (acknowledged), and the whole path: the `ingest`
//! pipeline itself, from a fresh cursor to the last block.

use std::collections::BTreeSet;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use aurras_domain::envelope::Envelope;
use aurras_domain::names::ChainName;
use tokio::sync::watch;

use crate::chain::{Chain, Endpoint, RpcBackend};
use crate::cursor::Cursor;
use crate::metrics::Metrics;
use crate::pipeline::{Ahead, Pipeline, Selection, Start};
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
    /// Brokers for the produce passes; without them only fetching and decoding are measured.
    #[arg(long)]
    pub brokers: Option<String>,
    /// Blocks fetched at once, as `ingest --fetch-ahead`.
    #[arg(long, default_value_t = 16)]
    pub fetch_ahead: usize,
    /// Run only the whole path (needs `--brokers`), so the peak RSS is the pipeline's alone: the
    /// other passes keep every block in memory.
    #[arg(long)]
    pub whole_path_only: bool,
}

/// One pass's numbers.
#[derive(Debug, Clone)]
pub struct Row {
    /// The pass.
    pub pass: String,
    /// Blocks covered.
    pub blocks: u64,
    /// Events covered.
    pub events: u64,
    /// Time taken.
    pub took: Duration,
}

impl Row {
    /// Events per second.
    pub fn events_per_second(&self) -> f64 {
        self.events as f64 / self.took.as_secs_f64().max(1e-9)
    }

    fn line(&self) -> String {
        let secs = self.took.as_secs_f64().max(1e-9);
        format!(
            "| {:<20} | {:>6} | {:>7} | {:>8.2} | {:>9.0} | {:>8.1} |",
            self.pass,
            self.blocks,
            self.events,
            secs,
            self.events_per_second(),
            self.blocks as f64 / secs
        )
    }
}

/// What `bench` measured.
#[derive(Debug, Clone)]
pub struct Report {
    /// The passes, in the order run.
    pub rows: Vec<Row>,
    /// Peak resident memory of the process, MiB.
    pub peak_rss_mib: Option<f64>,
}

impl Report {
    /// The whole path's row, when the brokers were given.
    pub fn whole_path(&self) -> Option<&Row> {
        self.rows.iter().find(|r| r.pass == "whole path")
    }
}

/// Peak resident memory of this process so far, MiB.
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Topics the bench creates: one partition, one replica (a single local broker).
const BENCH_TOPICS: TopicSettings = TopicSettings {
    partitions: 1,
    replication: 1,
};

/// Runs the benchmark, prints a table and returns the numbers.
pub async fn run(args: BenchArgs) -> Result<Report> {
    let name = ChainName::parse(&args.chain).map_err(|m| anyhow::anyhow!("--chain: {m}"))?;
    let endpoint = Endpoint::Rpc {
        urls: vec![args.rpc.clone()],
        backend: args.rpc_backend,
    };
    // The producer starts now, as `ingest`'s does before it connects to the chain: its start-up
    // (a producer id) is not counted, as the baseline's connection is not.
    let mut sink = match &args.brokers {
        Some(brokers) => Some(KafkaSink::new(brokers, BENCH_TOPICS)?),
        None => None,
    };
    let chain = Arc::new(Chain::connect(name.clone(), &endpoint, None).await?);
    let to = match args.to_block {
        Some(n) => n,
        None => chain.finalized_head().await?,
    };
    let blocks = to.saturating_sub(args.from_block) + 1;
    let mut rows = Vec::new();
    // Topics the passes found, created before the whole path's clock starts (as the baseline's
    // connection and metadata download are not counted either).
    let mut topics = BTreeSet::new();
    if !args.whole_path_only {
        let (fetch, decode, envelopes) = fetch_and_decode(&chain, &args, to).await?;
        let events = envelopes.len() as u64;
        topics = envelopes
            .iter()
            .filter_map(|e| e.topic())
            .map(|t| t.to_string())
            .collect();
        rows.push(row("fetch (RPC, ahead)", blocks, events, fetch));
        rows.push(row("decode", blocks, events, decode));
        if let Some(sink) = &mut sink {
            let took = produce(sink, &envelopes).await?;
            rows.push(row("produce (acked)", blocks, events, took));
        }
    }
    if let Some(sink) = sink {
        rows.push(whole_path(chain, name, sink, &args, to, &topics).await?);
    }

    println!(
        "Ingest benchmark: blocks {}..={to} of {}, {} fetched at once",
        args.from_block, args.rpc, args.fetch_ahead
    );
    println!();
    println!("| pass                 | blocks |  events |  seconds |  events/s | blocks/s |");
    println!("|----------------------|-------:|--------:|---------:|----------:|---------:|");
    for r in &rows {
        println!("{}", r.line());
    }
    let peak_rss_mib = peak_rss_mib();
    if let Some(rss) = peak_rss_mib {
        println!();
        println!("peak RSS: {rss:.1} MiB");
    }
    Ok(Report { rows, peak_rss_mib })
}

fn row(pass: &str, blocks: u64, events: u64, took: Duration) -> Row {
    Row {
        pass: pass.into(),
        blocks,
        events,
        took,
    }
}

/// Fetches the range (the chain's side: block hash, runtime, events storage), then decodes it.
async fn fetch_and_decode(
    chain: &Arc<Chain>,
    args: &BenchArgs,
    to: u64,
) -> Result<(Duration, Duration, Vec<Envelope>)> {
    let started = Instant::now();
    let fetcher = chain.clone();
    let mut ahead = Ahead::new(args.from_block, args.fetch_ahead, move |n| {
        let chain = fetcher.clone();
        async move { chain.fetch(n).await }
    });
    let mut fetched = Vec::new();
    while let Some((_, block)) = ahead.next(to).await {
        fetched.push(block?);
    }
    let fetch = started.elapsed();

    let started = Instant::now();
    let mut envelopes = Vec::new();
    for block in fetched {
        envelopes.extend(chain.decode(block)?.envelopes);
    }
    Ok((fetch, started.elapsed(), envelopes))
}

/// Produces decoded envelopes block by block, each block acknowledged before the next.
async fn produce(sink: &mut KafkaSink, envelopes: &[Envelope]) -> Result<Duration> {
    let topics = envelopes
        .iter()
        .filter_map(|e| e.topic())
        .map(|t| t.to_string())
        .collect();
    sink.ensure_topics(&topics)
        .await
        .context("creating topics")?;
    let started = Instant::now();
    for block in envelopes.chunk_by(|a, b| a.block.number == b.block.number) {
        let refs: Vec<&Envelope> = block.iter().collect();
        sink.produce(&refs).await?;
    }
    Ok(started.elapsed())
}

/// The `ingest` pipeline over the range, every event published, from a fresh cursor.
async fn whole_path(
    chain: Arc<Chain>,
    name: ChainName,
    mut sink: KafkaSink,
    args: &BenchArgs,
    to: u64,
    topics: &BTreeSet<String>,
) -> Result<Row> {
    let cursor_path = std::env::temp_dir().join(format!(
        "aurras-bench-{}-{}.cursor",
        std::process::id(),
        args.from_block
    ));
    let metrics = Metrics::new(name.as_str());
    sink.ensure_topics(topics)
        .await
        .context("creating topics")?;
    let mut pipeline = Pipeline {
        chain,
        chain_name: name,
        sink,
        cursor: Cursor::new(&cursor_path),
        selection: Arc::new(RwLock::new(Selection::All)),
        start: Start::Block(args.from_block),
        metrics: metrics.clone(),
        poll: Duration::from_secs(1),
        fetch_ahead: args.fetch_ahead,
        stop_after: Some(to),
        lease: None,
    };
    // Never requested: the pipeline stops by itself after the last block.
    let (_keep, shutdown) = watch::channel(false);
    let started = Instant::now();
    pipeline.run(shutdown).await?;
    let took = started.elapsed();
    let _ = std::fs::remove_file(&cursor_path);
    Ok(row(
        "whole path",
        to.saturating_sub(args.from_block) + 1,
        metrics.events_produced(),
        took,
    ))
}
