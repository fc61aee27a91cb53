//! A world whose app delivers to every chat, phone and mail platform: the local Telegram Bot API,
//! Discord and Slack webhooks, ntfy server, Matrix homeserver and mail API (Resend) of
//! [`crate::platforms`], trusted through `[[client_tls]]` (all on `localhost`, from the world's
//! test CA), with each platform's Spin variable pointing at its server.

use anyhow::{Context, Result};

use crate::platforms::discord::DiscordWebhooks;
use crate::platforms::mail::{Email, MailApi};
use crate::platforms::matrix::{MatrixHomeserver, User};
use crate::platforms::ntfy::NtfyServer;
use crate::platforms::slack::SlackWebhooks;
use crate::platforms::telegram::{Bot, TelegramBotApi};
use crate::world::{runtime_config, Settings, World};

/// The mail API's key, as the app is given it.
pub const MAIL_API_KEY: &str = "re_mail_key_123";
/// Where the app sends mail from.
pub const MAIL_FROM: &str = "Aurras <notify@example.org>";
/// The app's public address in links (a proxy in front of it in production); tests call the
/// same paths on the app directly.
pub const PUBLIC_URL: &str = "https://aurras.test";

/// The platforms an app of a [`Channels`] world delivers to.
pub struct Platforms {
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
    /// A Matrix homeserver (`matrix_homeserver`).
    pub matrix: MatrixHomeserver,
    /// The operator's Matrix account (its token is `matrix_access_token`).
    pub matrix_bot: User,
    /// A mail API speaking Resend's (`mail_api`).
    pub mail: MailApi,
    _config: tempfile::TempDir,
}

impl Platforms {
    /// Starts every platform, then restarts `w`'s app pointed at them.
    pub async fn start(w: &mut World) -> Result<Self> {
        let telegram = TelegramBotApi::start(&w.ca).await?;
        let bot = telegram.bot("aurras_test_bot");
        let discord = DiscordWebhooks::start(&w.ca).await?;
        let slack = SlackWebhooks::start(&w.ca).await?;
        let ntfy = NtfyServer::start(&w.ca).await?;
        let matrix = MatrixHomeserver::start(&w.ca).await?;
        let matrix_bot = matrix.user("aurras");
        let mail = MailApi::resend(&w.ca, MAIL_API_KEY, "example.org").await?;
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
            ("MATRIX_HOMESERVER", matrix.base_url()),
            ("MATRIX_ACCESS_TOKEN", matrix_bot.access_token.clone()),
            ("MAIL_PROVIDER", "resend".to_owned()),
            ("MAIL_API", mail.base_url()),
            ("MAIL_API_TOKEN", MAIL_API_KEY.to_owned()),
            ("MAIL_FROM", MAIL_FROM.to_owned()),
            ("PUBLIC_URL", PUBLIC_URL.to_owned()),
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
            telegram,
            bot,
            discord,
            slack,
            ntfy,
            matrix,
            matrix_bot,
            mail,
            _config: config,
        })
    }

    /// A room on the homeserver with `person` in it and the bot invited, as a person sets one
    /// up before naming it in a trigger.
    pub fn matrix_room(&self, alias: &str, person: &User) -> crate::platforms::matrix::Room {
        let room = self.matrix.private_room(Some(alias), &[person]);
        self.matrix.invite(&room, &self.matrix_bot);
        room
    }
}

impl Platforms {
    /// Opens the confirmation link of the last mail the app at `app` sent to `address`, as its
    /// owner would: the trigger mailing there is confirmed.
    pub async fn confirm_email(&self, app: &str, address: &str) -> Result<()> {
        let sent = self.mail.sent_to(address);
        let mail = sent.last().context("no mail to the address")?;
        let url = format!("{app}{}", link_in(mail, "/api/email/confirm"));
        let answer = reqwest::get(url).await?;
        anyhow::ensure!(
            answer.status() == 200,
            "confirming answered {}",
            answer.status()
        );
        Ok(())
    }
}

/// The world and its platforms.
pub struct Channels {
    /// The app and its other peers.
    pub w: World,
    /// The platforms its app delivers to.
    pub p: Platforms,
}

impl Channels {
    /// Starts the world with `settings` and the platforms, then restarts the app pointed at them.
    pub async fn start(settings: Settings) -> Result<Self> {
        let mut w = World::start(settings).await?;
        let p = Platforms::start(&mut w).await?;
        Ok(Self { w, p })
    }

    /// Opens the confirmation link of the last mail the app sent to `address`, as its owner
    /// would: the trigger mailing there is confirmed.
    pub async fn confirm_email(&self, address: &str) -> Result<()> {
        self.p.confirm_email(&self.w.app.url(), address).await
    }
}

/// The link in `mail` under `path` (`/api/email/confirm`), as the app's own path and query.
pub fn link_in(mail: &Email, path: &str) -> String {
    let prefix = format!("{PUBLIC_URL}{path}?");
    let link = mail
        .links
        .iter()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("a {path} link in {:?}", mail.links));
    link.strip_prefix(PUBLIC_URL).expect("prefix").to_owned()
}
