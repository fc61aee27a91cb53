//! The `relay` command line: flags with their `AURRAS_*` twins, checked into a [`RelayConfig`].
//! A bad value is a configuration failure (exit code 2) naming its flag.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::anyhow;
use aurras_domain::dispatch::MAX_BATCH;
use aurras_domain::signature::SigningKey;
use clap::Args;

use super::consumer::BatchLimits;
use super::outbox::OutboxTopics;
use super::topics::TopicSource;
use super::wire::MAX_ATTEMPT;

/// The largest batch body `dispatch` reads (docs/delivery.md).
const MAX_BATCH_BYTES: usize = 16 * 1024 * 1024;
use super::RelayConfig;
use crate::sink::TopicSettings;
use crate::sources::ApiClient;
use crate::Failure;

/// Consume the event topics and POST batches to the app's `dispatch` component.
#[derive(Args)]
pub struct RelayArgs {
    /// Kafka-compatible brokers, `host:port,…`.
    #[arg(long, env = "AURRAS_BROKERS")]
    brokers: String,
    /// The app's base URL; batches go to `<app>/dispatch`.
    #[arg(long, env = "AURRAS_APP")]
    app: String,
    /// The shared secret (`whsec_<base64>`), the app's `relay_secret` variable.
    #[arg(long, env = "AURRAS_RELAY_SECRET", hide_env_values = true)]
    relay_secret: String,
    /// The management API: consume the topics of every registered source, and follow changes.
    #[arg(
        long,
        env = "AURRAS_API",
        conflicts_with = "topics",
        requires = "admin_token"
    )]
    api: Option<String>,
    /// The operator token for `--api`.
    #[arg(long, env = "AURRAS_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// Topics to consume; comma-separated.
    #[arg(long, env = "AURRAS_TOPICS", value_delimiter = ',')]
    topics: Vec<String>,
    /// The consumer group; retry level n uses `<group>.retry.<n>`.
    #[arg(long, default_value = "aurras-relay", env = "AURRAS_GROUP")]
    group: String,
    /// The most records per batch (at most 500, what `dispatch` accepts).
    #[arg(long, default_value_t = 100, env = "AURRAS_BATCH_MAX")]
    batch_max: usize,
    /// The most bytes per posted batch (the app takes at most 16 MiB); a record larger than this
    /// goes alone.
    #[arg(long, default_value_t = 4 * 1024 * 1024, env = "AURRAS_BATCH_MAX_BYTES")]
    batch_max_bytes: usize,
    /// How long to wait for more records after the first of a batch, in milliseconds.
    #[arg(long, default_value_t = 5, env = "AURRAS_LINGER_MS")]
    linger_ms: u64,
    /// Where records the app rejects go.
    #[arg(
        long,
        default_value = "aurras.dead-letter",
        env = "AURRAS_DEAD_LETTER_TOPIC"
    )]
    dead_letter_topic: String,
    /// Retries wait in `<prefix>.<attempt>`.
    #[arg(
        long,
        default_value = "aurras.retry",
        env = "AURRAS_RETRY_TOPIC_PREFIX"
    )]
    retry_topic_prefix: String,
    /// How often to re-read the topics from `--api` and look for retry topics, in seconds.
    #[arg(long, default_value_t = 30, env = "AURRAS_API_POLL_SECS")]
    api_poll_secs: u64,
    /// Give up on one POST after this many seconds (and retry it).
    #[arg(long, default_value_t = 30, env = "AURRAS_REQUEST_TIMEOUT_SECS")]
    request_timeout_secs: u64,
    /// The consumer-group session time-out: how soon partitions of a relay that died move on.
    #[arg(long, default_value_t = 45_000, env = "AURRAS_SESSION_TIMEOUT_MS")]
    session_timeout_ms: u64,
    /// Partitions of topics the relay creates.
    #[arg(long, default_value_t = 1, env = "AURRAS_PARTITIONS")]
    partitions: i32,
    /// Replication factor of topics the relay creates.
    #[arg(long, default_value_t = 1, env = "AURRAS_REPLICATION")]
    replication: i32,
    /// Serve Prometheus `/metrics` here.
    #[arg(long, env = "AURRAS_METRICS_LISTEN")]
    metrics_listen: Option<SocketAddr>,
}

/// An `http://` or `https://` URL with a host, or why not.
fn check_http_url(flag: &str, raw: &str) -> Result<(), Failure> {
    match url::Url::parse(raw) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host_str().is_some() => Ok(()),
        Ok(_) => Err(Failure::Config(anyhow!(
            "{flag} {raw}: use an http:// or https:// URL"
        ))),
        Err(e) => Err(Failure::Config(anyhow!("{flag} {raw:?}: not a URL: {e}"))),
    }
}

/// Checks the flags.
pub fn config(args: RelayArgs) -> Result<RelayConfig, Failure> {
    let flag = |name: &str, e: anyhow::Error| Failure::Config(anyhow!("{name}: {e:#}"));
    check_http_url("--app", &args.app)?;
    let key = SigningKey::from_secret(&args.relay_secret)
        .map_err(|e| Failure::Config(anyhow!("--relay-secret: {e}")))?;
    let topics = match (&args.api, args.topics.is_empty()) {
        (Some(api), _) => {
            check_http_url("--api", api)?;
            TopicSource::Api(ApiClient::new(
                api,
                args.admin_token.as_deref().unwrap_or_default(),
            ))
        }
        (None, false) => {
            let mut topics = BTreeSet::new();
            for topic in &args.topics {
                let topic = topic.trim();
                check_topic_name(topic).map_err(|e| flag("--topics", e))?;
                topics.insert(topic.to_owned());
            }
            TopicSource::Fixed(topics)
        }
        (None, true) => {
            return Err(Failure::Config(anyhow!(
                "give --topics a,b or --api <url> with --admin-token: which topics to relay"
            )))
        }
    };
    if !(1..=MAX_BATCH).contains(&args.batch_max) {
        return Err(Failure::Config(anyhow!(
            "--batch-max {}: between 1 and {MAX_BATCH}",
            args.batch_max
        )));
    }
    check_topic_name(&args.dead_letter_topic).map_err(|e| flag("--dead-letter-topic", e))?;
    if !(1024..=MAX_BATCH_BYTES).contains(&args.batch_max_bytes) {
        return Err(Failure::Config(anyhow!(
            "--batch-max-bytes {}: between 1024 and {MAX_BATCH_BYTES} (what dispatch accepts)",
            args.batch_max_bytes
        )));
    }
    // The longest retry topic name must be legal too.
    check_topic_name(&format!("{}.{MAX_ATTEMPT}", args.retry_topic_prefix))
        .map_err(|e| flag("--retry-topic-prefix", e))?;
    if args.group.trim().is_empty() {
        return Err(Failure::Config(anyhow!("--group: must not be empty")));
    }
    for (name, value) in [
        ("--api-poll-secs", args.api_poll_secs),
        ("--request-timeout-secs", args.request_timeout_secs),
        ("--session-timeout-ms", args.session_timeout_ms),
    ] {
        if value == 0 {
            return Err(Failure::Config(anyhow!("{name}: must be at least 1")));
        }
    }
    if args.partitions < 1 || args.replication < 1 {
        return Err(Failure::Config(anyhow!(
            "--partitions and --replication must be at least 1"
        )));
    }
    Ok(RelayConfig {
        brokers: args.brokers,
        app: args.app,
        key,
        topics,
        group: args.group,
        limits: BatchLimits {
            max: args.batch_max,
            max_bytes: args.batch_max_bytes,
            linger: Duration::from_millis(args.linger_ms),
        },
        outbox_topics: OutboxTopics {
            dead_letter: args.dead_letter_topic,
            retry_prefix: args.retry_topic_prefix,
        },
        settings: TopicSettings {
            partitions: args.partitions,
            replication: args.replication,
        },
        poll: Duration::from_secs(args.api_poll_secs),
        request_timeout: Duration::from_secs(args.request_timeout_secs),
        session_timeout_ms: args.session_timeout_ms,
        metrics_listen: args.metrics_listen,
    })
}

/// Checks a Kafka topic name: `[a-zA-Z0-9._-]`, 1 to 249 characters.
fn check_topic_name(name: &str) -> anyhow::Result<()> {
    let legal = !name.is_empty()
        && name.len() <= 249
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if legal && name != "." && name != ".." {
        Ok(())
    } else {
        Err(anyhow!(
            "{name:?} is not a topic name: 1 to 249 of a-z A-Z 0-9 . _ -"
        ))
    }
}
