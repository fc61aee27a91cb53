//! Which topics the relay consumes: a fixed list (`--topics`) or the topics of every source
//! registered at the management API (`--api`), re-read now and then. Topics are created when
//! missing, so a subscription works before the ingestor produced anything. The same round finds
//! retry topics on the broker, so every level that holds records gets a consumer.

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::Result;
use aurras_domain::names::Topic;
use tokio::sync::{mpsc, watch};

use super::outbox::OutboxTopics;
use crate::pipeline::{requested, sleep_or_shutdown};
use crate::sink::TopicCreator;
use crate::sources::ApiClient;

/// Where the topic list comes from.
pub enum TopicSource {
    /// `--topics`.
    Fixed(BTreeSet<String>),
    /// `--api`: the topics of every registered source.
    Api(ApiClient),
}

impl TopicSource {
    /// The topics now.
    pub async fn read(&self) -> Result<BTreeSet<String>> {
        match self {
            TopicSource::Fixed(topics) => Ok(topics.clone()),
            TopicSource::Api(api) => Ok(api
                .sources()
                .await?
                .iter()
                .flat_map(|s| s.topic_names())
                .filter(|t| match Topic::parse(t) {
                    Ok(_) => true,
                    Err(e) => {
                        tracing::warn!("--api: skipping topic {t:?}: {e}");
                        false
                    }
                })
                .collect()),
        }
    }
}

/// Keeps the consumed topics and the retry levels up to date.
pub struct TopicWatch {
    /// Where topics come from.
    pub source: TopicSource,
    /// Creates missing topics.
    pub creator: TopicCreator,
    /// To recognize retry topics.
    pub outbox_topics: OutboxTopics,
    /// How often to look again.
    pub every: Duration,
}

impl TopicWatch {
    /// Runs until shutdown: publishes each new topic set on `topics` and each retry level found
    /// on the broker on `levels`.
    pub async fn run(
        mut self,
        topics: watch::Sender<BTreeSet<String>>,
        levels: mpsc::UnboundedSender<u32>,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<()> {
        let mut last_error: Option<String> = None;
        loop {
            // The API may hang; shutdown must not wait for it.
            let read = tokio::select! {
                read = self.source.read() => read,
                () = requested(shutdown.clone()) => return Ok(()),
            };
            match read {
                Ok(wanted) => {
                    last_error = None;
                    if let Err(e) = self.creator.ensure(&wanted).await {
                        // The subscription still picks the topics up once they exist.
                        tracing::warn!("{e:#}");
                    }
                    topics.send_if_modified(|current| {
                        if *current == wanted {
                            return false;
                        }
                        tracing::info!(topics = ?wanted, "consuming");
                        *current = wanted;
                        true
                    });
                }
                Err(e) => {
                    let text = format!("{e:#}");
                    if last_error.as_deref() != Some(text.as_str()) {
                        tracing::warn!("re-reading the topics: {text}; keeping the current ones");
                        last_error = Some(text);
                    }
                }
            }
            self.find_levels(&levels);
            if sleep_or_shutdown(self.every, &mut shutdown).await {
                return Ok(());
            }
        }
    }

    fn find_levels(&self, levels: &mpsc::UnboundedSender<u32>) {
        let existing =
            tokio::task::block_in_place(|| self.creator.existing(Duration::from_secs(5)));
        match existing {
            Ok(names) => {
                for level in names.iter().filter_map(|t| self.outbox_topics.level_of(t)) {
                    let _ = levels.send(level);
                }
            }
            Err(e) => tracing::debug!("looking for retry topics: {e:#}"),
        }
    }
}
