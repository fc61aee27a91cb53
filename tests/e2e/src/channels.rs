//! A world whose app delivers to chat and phone platforms: the local Telegram Bot API, Discord
//! and Slack webhooks and ntfy servers of [`crate::platforms`], trusted through `[[client_tls]]`
//! (all on `localhost`, from the world's test CA), with each platform's Spin variable pointing
//! at its server.

use anyhow::Result;

use crate::platforms::discord::DiscordWebhooks;
use crate::platforms::ntfy::NtfyServer;
use crate::platforms::slack::SlackWebhooks;
use crate::platforms::telegram::{Bot, TelegramBotApi};
use crate::world::{runtime_config, Settings, World};

/// The world and its platforms.
pub struct Channels {
    /// The app and its other peers.
    pub w: World,
    /// The Bot API.
    pub telegram: TelegramBotApi,
    /// The operator's bot (its token is `telegram_bot_token`).
    pub bot: Bot,
    /// Discord's webhooks.
    pub discord: DiscordWebhooks,
    /// Slack's webhooks.
    pub slack: SlackWebhooks,
    /// An ntfy server (`ntfy_server`).
    pub ntfy: NtfyServer,
    _config: tempfile::TempDir,
}

impl Channels {
    /// Starts the world with `settings` and the platforms, then restarts the app pointed at them.
    pub async fn start(settings: Settings) -> Result<Self> {
        let mut w = World::start(settings).await?;
        let telegram = TelegramBotApi::start(&w.ca).await?;
        let bot = telegram.bot("aurras_test_bot");
        let discord = DiscordWebhooks::start(&w.ca).await?;
        let slack = SlackWebhooks::start(&w.ca).await?;
        let ntfy = NtfyServer::start(&w.ca).await?;
        let config = tempfile::tempdir()?;
        let rc_path = config.path().join("runtime-config.toml");
        // The world's own peers are on 127.0.0.1, the platforms on localhost.
        std::fs::write(&rc_path, runtime_config(&w.ca, &["localhost", "127.0.0.1"]))?;
        let vars = [
            ("TELEGRAM_API", telegram.base_url()),
            ("TELEGRAM_BOT_TOKEN", bot.token.clone()),
            ("TELEGRAM_BOT_NAME", bot.username.clone()),
            ("DISCORD_HOSTS", "localhost".to_owned()),
            ("SLACK_HOSTS", "localhost".to_owned()),
            ("NTFY_SERVER", ntfy.base_url()),
        ];
        w.app
            .restart_with(|o| {
                o.runtime_config = Some(rc_path.clone());
                for (name, value) in vars {
                    o.variables.insert(format!("SPIN_VARIABLE_{name}"), value);
                }
            })
            .await?;
        Ok(Self {
            w,
            telegram,
            bot,
            discord,
            slack,
            ntfy,
            _config: config,
        })
    }
}
