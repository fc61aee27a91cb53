//! Matrix: the operator's bot account (`matrix_homeserver`, `matrix_access_token`) posts to a
//! room a person names by id (`!…`) or alias (`#name:server`). At create the API makes the bot
//! join the room ([`join_request`], [`classify_join`]): that accepts the person's invite and
//! resolves an alias to the room id that is stored and posted to. Each notification is one
//! `m.room.message` sent with `PUT …/send/m.room.message/{txnId}`, the transaction id being the
//! stable id of (event, trigger), so a retry after a lost answer is the same request to the
//! homeserver and never a second message.
//! <https://spec.matrix.org/latest/client-server-api/#put_matrixclientv3roomsroomidsendeventtypetxnid>
//! <https://spec.matrix.org/latest/client-server-api/#post_matrixclientv3joinroomidoralias>

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{classify_common, json_post, not_enabled, Platforms, Post};
use crate::answer::Answer;
use crate::delivery::Outcome;
use crate::dispatch::HttpRequest;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::message::{Limit, Unit};

const FIELD: &str = "action.matrix.room";

/// The longest room id or alias the spec allows (bytes, sigil and server included).
const MAX_ROOM: usize = 255;

/// The title and the body are cut to these before escaping, so the event (plain and HTML forms
/// together, HTML escaping at most six bytes for one) stays well under the spec's 65,536 bytes.
const TITLE: Limit = Limit {
    max: 1_000,
    unit: Unit::Bytes,
};
const BODY: Limit = Limit {
    max: 6_000,
    unit: Unit::Bytes,
};

/// A Matrix destination. A person gives `room`; `room_id` is what the bot's join answered, set
/// by the API at create (one given by the client is replaced by the join's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Matrix {
    /// `!id:server` or `#alias:server`, as the person gave it.
    pub room: String,
    /// The room id the bot joined (`!…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room_id: Option<String>,
}

/// The homeserver and the bot's access token, when Matrix is enabled.
fn account(platforms: &Platforms) -> Option<(&str, &str)> {
    Some((
        platforms.matrix_homeserver.as_deref()?,
        platforms.matrix_access_token.as_deref()?,
    ))
}

/// Checks that Matrix is enabled and the room is a room id or an alias.
pub fn validate(matrix: &Matrix, platforms: &Platforms) -> ApiResult<()> {
    if account(platforms).is_none() {
        return Err(not_enabled(
            "action.matrix",
            "Matrix",
            "matrix_homeserver and matrix_access_token",
        ));
    }
    let room = matrix.room.as_str();
    let printable = !room.is_empty()
        && room.len() <= MAX_ROOM
        && room.chars().all(|c| !c.is_whitespace() && !c.is_control());
    let shaped = match room.split_at_checked(1) {
        // Room versions 12 and later make ids without a server part: `!` and an opaque rest.
        Some(("!", rest)) => !rest.is_empty(),
        Some(("#", rest)) => rest
            .split_once(':')
            .is_some_and(|(name, server)| !name.is_empty() && !server.is_empty()),
        _ => false,
    };
    if printable && shaped {
        Ok(())
    } else {
        Err(ApiError::invalid(
            FIELD,
            "expected a room id (!…:server) or a room alias (#name:server), as the room's settings show them",
        ))
    }
}

/// `{homeserver}/_matrix/client/v3/{segments}`, each segment percent-encoded (`#` and `/` in
/// an alias or a room id must not end the path).
fn endpoint(homeserver: &str, segments: &[&str]) -> Result<String, String> {
    let mut url =
        url::Url::parse(homeserver).map_err(|e| format!("matrix_homeserver is not a URL: {e}"))?;
    url.path_segments_mut()
        .map_err(|()| "matrix_homeserver cannot take a path".to_owned())?
        .pop_if_empty()
        .extend(["_matrix", "client", "v3"])
        .extend(segments);
    Ok(url.into())
}

fn authorized(mut request: HttpRequest, token: &str) -> HttpRequest {
    request
        .headers
        .push(("authorization".into(), format!("Bearer {token}")));
    request
}

fn enabled(platforms: &Platforms) -> Result<(&str, &str), String> {
    account(platforms).ok_or_else(|| {
        "Matrix is not enabled on this server (matrix_homeserver or matrix_access_token is unset)"
            .to_owned()
    })
}

/// `POST /join/{roomIdOrAlias}`: the bot accepts an invite, or enters a public room, and learns
/// the room id.
pub fn join_request(room: &str, platforms: &Platforms) -> Result<HttpRequest, String> {
    let (homeserver, token) = enabled(platforms)?;
    let request = json_post(endpoint(homeserver, &["join", room])?, &json!({}))?;
    Ok(authorized(request, token))
}

/// `GET /account/whoami`: the bot's user id, to name it in "invite @bot:server".
pub fn whoami_request(platforms: &Platforms) -> Result<HttpRequest, String> {
    let (homeserver, token) = enabled(platforms)?;
    Ok(authorized(
        HttpRequest {
            method: "GET".into(),
            url: endpoint(homeserver, &["account", "whoami"])?,
            headers: Vec::new(),
            body: Vec::new(),
        },
        token,
    ))
}

/// The user id in a whoami answer.
pub fn user_id(answer: &Answer) -> Option<String> {
    let json = answer.json().filter(|_| answer.status() == Some(200))?;
    json["user_id"]
        .as_str()
        .filter(|id| id.starts_with('@'))
        .map(str::to_owned)
}

/// What a join answer means for the trigger being made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Joined {
    /// In the room: its id.
    Room(String),
    /// The homeserver will not let the bot in (not invited, not public, banned): the person must
    /// invite the bot. Which bot is [`not_invited`]'s to say, from whoami.
    NotInvited(String),
    /// Anything else, as the answer to the client.
    Refused(ApiError),
}

/// The Matrix `{errcode, error}` of an answer, as `M_…: sentence`.
fn matrix_error(answer: &Answer) -> (String, String) {
    let json = answer.json().unwrap_or_default();
    let errcode = json["errcode"].as_str().unwrap_or_default().to_owned();
    let error = json["error"].as_str().unwrap_or_default().to_owned();
    (errcode, error)
}

fn unavailable(message: String) -> ApiError {
    ApiError::new(ErrorCode::PlatformUnavailable, message)
}

/// Classifies the answer to [`join_request`] for `room`.
pub fn classify_join(room: &str, answer: &Answer) -> Joined {
    let status = match answer {
        Answer::Response(r) => r.status,
        Answer::NoAnswer(why) | Answer::Held { why, .. } => {
            return Joined::Refused(unavailable(format!(
                "the Matrix homeserver could not be reached ({why}); try again later"
            )))
        }
    };
    let (errcode, error) = matrix_error(answer);
    match status {
        200..=299 => {
            let answered = answer
                .json()
                .and_then(|j| j["room_id"].as_str().map(str::to_owned))
                .filter(|id| id.starts_with('!'));
            // The answer's body may be cut short; a room id given is the room joined.
            match answered.or_else(|| room.starts_with('!').then(|| room.to_owned())) {
                Some(id) => Joined::Room(id),
                None => Joined::Refused(unavailable(format!(
                    "the Matrix homeserver joined {room} but did not say its room id; try again"
                ))),
            }
        }
        403 => Joined::NotInvited(format!("{errcode}: {error}")),
        404 => Joined::Refused(ApiError::invalid(
            FIELD,
            format!(
                "the homeserver knows no room {room} ({errcode}: {error}): check the alias or the room id"
            ),
        )),
        401 => Joined::Refused(ApiError::new(
            ErrorCode::NotConfigured,
            format!(
                "the Matrix homeserver refused the operator's access token ({errcode}); the operator must set a valid matrix_access_token"
            ),
        )),
        429 => {
            let wait = classify_common(answer, "Matrix").and_then(|o| match o {
                Outcome::Throttled { wait, .. } => wait,
                _ => None,
            });
            // Rounded up: a client that waits the whole of it is not refused again.
            let secs = wait.map_or(1, |w| w.as_millis().div_ceil(1000).max(1));
            Joined::Refused(
                unavailable(format!(
                    "the Matrix homeserver is rate limiting the bot; try again in {secs} s"
                ))
                .with_header("retry-after", secs.to_string()),
            )
        }
        400..=499 => Joined::Refused(ApiError::invalid(
            FIELD,
            format!("the homeserver would not join {room} ({status} {errcode}: {error})"),
        )),
        _ => Joined::Refused(unavailable(format!(
            "the Matrix homeserver answered {status} to joining {room}; try again later"
        ))),
    }
}

/// The 422 for a room the bot may not enter, naming the bot when whoami said who it is.
pub fn not_invited(room: &str, detail: &str, bot: Option<&str>) -> ApiError {
    let who = bot.unwrap_or("the operator's Matrix account");
    ApiError::invalid(
        FIELD,
        format!(
            "the bot cannot join {room} ({detail}): invite {who} to the room first, then try again"
        ),
    )
}

/// Escapes text for Matrix's HTML subset.
fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The `m.room.message` content: plain text for every client, and the same as HTML (bold
/// title, the link as a link) for those that render it.
pub fn content(post: &Post<'_>) -> serde_json::Value {
    let title = TITLE.fit(&post.title());
    let body = BODY.fit(&post.note.body);
    let mut plain = format!("{title}\n{body}");
    let mut html = format!(
        "<b>{}</b><br>{}",
        escape_html(&title),
        escape_html(&body).replace('\n', "<br>")
    );
    if let Some(link) = &post.note.url {
        plain.push('\n');
        plain.push_str(link);
        let link = escape_html(link);
        html.push_str(&format!("<br><a href=\"{link}\">{link}</a>"));
    }
    json!({
        "msgtype": "m.text",
        "body": plain,
        "format": "org.matrix.custom.html",
        "formatted_body": html,
    })
}

/// The send request, to the room id the join answered.
pub fn request(
    matrix: &Matrix,
    platforms: &Platforms,
    post: &Post<'_>,
) -> Result<HttpRequest, String> {
    let (homeserver, token) = enabled(platforms)?;
    let room_id = matrix
        .room_id
        .as_deref()
        .ok_or("the trigger's Matrix room was never joined: set its action again")?;
    let url = endpoint(
        homeserver,
        &["rooms", room_id, "send", "m.room.message", post.message_id],
    )?;
    let mut request = authorized(json_post(url, &content(post))?, token);
    request.method = "PUT".into();
    Ok(request)
}

/// The homeserver's answers to a send: 403 (the bot was kicked or banned, or the room is gone)
/// pauses the trigger; 401 (the operator's token revoked) retries until the operator fixes it;
/// 429 throttles for `retry_after_ms`; other 4xx fail; 5xx retry.
pub fn classify(answer: &Answer) -> Outcome {
    if let Some(outcome) = classify_common(answer, "Matrix") {
        return outcome;
    }
    let status = answer.status().unwrap_or_default();
    let (errcode, error) = matrix_error(answer);
    match status {
        401 => Outcome::Retry(format!(
            "the Matrix homeserver refused the bot's access token ({errcode}): the operator must set a valid matrix_access_token"
        )),
        403 => Outcome::Gone(format!(
            "Matrix answered 403 ({errcode}: {error}): the bot is no longer in the room; invite it again and set the trigger's action again"
        )),
        _ => Outcome::Failed(format!(
            "Matrix refused the message ({status} {errcode}: {error})"
        )),
    }
}

#[cfg(test)]
#[path = "matrix_tests.rs"]
mod tests;
