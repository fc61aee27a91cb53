//! A Matrix homeserver's client-server API (<https://spec.matrix.org/latest/client-server-api/>),
//! the part a notifying bot uses: `PUT /_matrix/client/v3/rooms/{roomId}/send/{eventType}/{txnId}`
//! (idempotent per access token and transaction id: a repeat answers the first event id and posts
//! nothing), `POST /_matrix/client/v3/join/{roomIdOrAlias}` and `…/rooms/{roomId}/join`,
//! `GET …/account/whoami`, `GET /_matrix/client/versions`. Access tokens in
//! `Authorization: Bearer` (or the deprecated `access_token` parameter). Errors are
//! `{"errcode": "M_…", "error": …}`: M_MISSING_TOKEN / M_UNKNOWN_TOKEN (401), M_FORBIDDEN (403),
//! M_NOT_FOUND, M_UNRECOGNIZED (404/405), M_NOT_JSON / M_BAD_JSON (400), M_TOO_LARGE (413),
//! M_LIMIT_EXCEEDED with `retry_after_ms` and `Retry-After` (429).

use std::collections::{HashMap, HashSet};

use anyhow::Result;
use serde_json::{json, Value};

use super::{
    links, random_token, refuse, Call, Fault, Outcome, PlatformServer, Reply, Shared, ALNUM,
};
use crate::tls::TestCa;

/// The homeserver's name: user ids are `@name:localhost`, room ids `!id:localhost`.
pub const SERVER_NAME: &str = "localhost";
/// The largest event the spec allows, in bytes of canonical JSON (checked on the content).
pub const MAX_EVENT: usize = 65_536;

/// A user and the access token the app holds for it.
#[derive(Debug, Clone)]
pub struct User {
    /// `@name:localhost`.
    pub user_id: String,
    /// The access token.
    pub access_token: String,
}

/// A room: its id and, when it has one, its alias.
#[derive(Debug, Clone)]
pub struct Room {
    /// `!…:localhost`.
    pub room_id: String,
    /// `#name:localhost`.
    pub alias: Option<String>,
}

/// An `m.room.message` event the homeserver accepted.
#[derive(Debug, Clone)]
pub struct RoomMessage {
    /// The room.
    pub room_id: String,
    /// The sender's user id.
    pub sender: String,
    /// The event id answered.
    pub event_id: String,
    /// The client's transaction id.
    pub txn_id: String,
    /// `msgtype` (`m.text`, `m.notice`, …).
    pub msgtype: String,
    /// `body`: the plain text a person reads.
    pub body: String,
    /// `formatted_body`, when sent (`format` is `org.matrix.custom.html`).
    pub formatted_body: Option<String>,
    /// Links in the body and the formatted body.
    pub links: Vec<String>,
    /// The whole content.
    pub content: Value,
}

#[derive(Debug, Default)]
struct RoomState {
    alias: Option<String>,
    invite_only: bool,
    members: HashSet<String>,
    invited: HashSet<String>,
}

/// The homeserver's state.
#[derive(Debug, Default)]
pub struct State {
    tokens: HashMap<String, String>,
    rooms: HashMap<String, RoomState>,
    txns: HashMap<(String, String), String>,
    messages: Vec<RoomMessage>,
}

/// The homeserver on a local port; stops on drop.
pub struct MatrixHomeserver {
    server: PlatformServer<State>,
}

fn error(status: u16, errcode: &str, message: &str) -> Reply {
    Reply::json(status, &json!({"errcode": errcode, "error": message}))
}

fn fault_reply(fault: Fault) -> Reply {
    match fault {
        Fault::RateLimited { retry_after_secs } => Reply::json(
            429,
            &json!({"errcode": "M_LIMIT_EXCEEDED", "error": "Too Many Requests",
                    "retry_after_ms": retry_after_secs * 1000}),
        )
        .with_header("retry-after", retry_after_secs.to_string()),
        Fault::ServerError => error(500, "M_UNKNOWN", "Internal server error"),
    }
}

fn handle(shared: &mut Shared<State>, call: &Call) -> Outcome {
    let Some(segments) = call.segments() else {
        return refuse(
            error(400, "M_UNRECOGNIZED", "Invalid path"),
            "a path segment is not UTF-8",
        );
    };
    let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
    let unrecognized = |status: u16| {
        refuse(
            error(status, "M_UNRECOGNIZED", "Unrecognized request"),
            format!(
                "{} {} is not a client-server API endpoint played here",
                call.method, call.path
            ),
        )
    };
    enum Route<'a> {
        Versions,
        WhoAmI,
        Join(&'a str),
        Send(&'a str, &'a str, &'a str),
    }
    use http::Method;
    let (route, method) = match segs.as_slice() {
        ["_matrix", "client", "versions"] => (Route::Versions, Method::GET),
        ["_matrix", "client", "v3", "account", "whoami"] => (Route::WhoAmI, Method::GET),
        ["_matrix", "client", "v3", "join", room] => (Route::Join(room), Method::POST),
        ["_matrix", "client", "v3", "rooms", room, "join"] => (Route::Join(room), Method::POST),
        ["_matrix", "client", "v3", "rooms", room, "send", kind, txn] => {
            (Route::Send(room, kind, txn), Method::PUT)
        }
        _ => return unrecognized(404),
    };
    if call.method != method {
        return unrecognized(405);
    }
    if let Route::Versions = route {
        return Outcome::Valid(Reply::json(
            200,
            &json!({"versions": ["v1.1", "v1.2", "v1.3", "v1.4", "v1.5", "v1.6", "v1.7", "v1.8", "v1.9", "v1.10", "v1.11"]}),
        ));
    }
    let token = match call.header("authorization") {
        Some(h) => match h.strip_prefix("Bearer ") {
            Some(t) => Some(t.trim().to_owned()),
            None => {
                return refuse(
                    error(401, "M_MISSING_TOKEN", "Missing access token"),
                    "Authorization is not `Bearer <token>`",
                )
            }
        },
        None => call.param("access_token").map(str::to_owned),
    };
    let Some(token) = token else {
        return refuse(
            error(401, "M_MISSING_TOKEN", "Missing access token"),
            "no access token",
        );
    };
    let Some(user) = shared.platform.tokens.get(&token).cloned() else {
        let reply = Reply::json(
            401,
            &json!({"errcode": "M_UNKNOWN_TOKEN", "error": "Invalid access token passed.", "soft_logout": false}),
        );
        return refuse(reply, "unknown access token");
    };
    let body = if call.body.is_empty() && matches!(route, Route::Join(_)) {
        json!({})
    } else if call.method == Method::GET {
        Value::Null
    } else {
        match serde_json::from_slice::<Value>(&call.body) {
            Ok(v @ Value::Object(_)) => v,
            _ => {
                return refuse(
                    error(400, "M_NOT_JSON", "Content not JSON."),
                    "the body is not a JSON object",
                )
            }
        }
    };
    let state = &mut shared.platform;
    let success = match route {
        Route::Versions => unreachable!("answered above"),
        Route::WhoAmI => json!({"user_id": user, "device_id": "AURRASTEST"}),
        Route::Join(target) => {
            let room_id = if target.starts_with('#') {
                state
                    .rooms
                    .iter()
                    .find(|(_, r)| r.alias.as_deref() == Some(target))
                    .map(|(id, _)| id.clone())
            } else {
                Some(target.to_owned()).filter(|id| state.rooms.contains_key(id))
            };
            let Some(room_id) = room_id else {
                return Outcome::Valid(error(404, "M_NOT_FOUND", "No known servers"));
            };
            let room = state.rooms.get(&room_id).expect("found above");
            if room.invite_only && !room.invited.contains(&user) && !room.members.contains(&user) {
                return Outcome::Valid(error(
                    403,
                    "M_FORBIDDEN",
                    "You are not invited to this room.",
                ));
            }
            if let Some(fault) = shared.take_fault() {
                return Outcome::Valid(fault_reply(fault));
            }
            if let Some(room) = shared.platform.rooms.get_mut(&room_id) {
                room.members.insert(user);
            }
            return Outcome::Valid(Reply::json(200, &json!({"room_id": room_id})));
        }
        Route::Send(room_id, kind, txn) => {
            if let Some(event_id) = state.txns.get(&(token.clone(), txn.to_owned())) {
                // The spec: the same transaction id from the same device is the same request.
                return Outcome::Valid(Reply::json(200, &json!({"event_id": event_id})));
            }
            if body.to_string().len() > MAX_EVENT {
                return refuse(
                    error(413, "M_TOO_LARGE", "event too large"),
                    format!("the event's content is over {MAX_EVENT} bytes"),
                );
            }
            let message = if kind == "m.room.message" {
                let (Some(msgtype), Some(text)) = (body["msgtype"].as_str(), body["body"].as_str())
                else {
                    return refuse(
                        error(
                            400,
                            "M_BAD_JSON",
                            "m.room.message needs string msgtype and body",
                        ),
                        "msgtype or body missing",
                    );
                };
                let formatted = body["formatted_body"].as_str().map(str::to_owned);
                if formatted.is_some() && body["format"].as_str() != Some("org.matrix.custom.html")
                {
                    return refuse(
                        error(
                            400,
                            "M_BAD_JSON",
                            "formatted_body needs format org.matrix.custom.html",
                        ),
                        "formatted_body without its format",
                    );
                }
                let mut found = links(text);
                found.extend(formatted.as_deref().map(links).unwrap_or_default());
                found.dedup();
                Some((msgtype.to_owned(), text.to_owned(), formatted, found))
            } else {
                None
            };
            let Some(room) = state.rooms.get(room_id) else {
                return Outcome::Valid(error(
                    403,
                    "M_FORBIDDEN",
                    &format!("User {user} not in room {room_id}"),
                ));
            };
            if !room.members.contains(&user) {
                return Outcome::Valid(error(
                    403,
                    "M_FORBIDDEN",
                    &format!("User {user} not in room {room_id}"),
                ));
            }
            if let Some(fault) = shared.take_fault() {
                return Outcome::Valid(fault_reply(fault));
            }
            let event_id = format!("${}", random_token(43, ALNUM));
            let state = &mut shared.platform;
            state.txns.insert((token, txn.to_owned()), event_id.clone());
            if let Some((msgtype, text, formatted_body, links)) = message {
                state.messages.push(RoomMessage {
                    room_id: room_id.to_owned(),
                    sender: user,
                    event_id: event_id.clone(),
                    txn_id: txn.to_owned(),
                    msgtype,
                    body: text,
                    formatted_body,
                    links,
                    content: body,
                });
            }
            return Outcome::Valid(Reply::json(200, &json!({"event_id": event_id})));
        }
    };
    match shared.take_fault() {
        Some(fault) => Outcome::Valid(fault_reply(fault)),
        None => Outcome::Valid(Reply::json(200, &success)),
    }
}

impl MatrixHomeserver {
    /// Serves the homeserver over HTTPS with `ca`'s certificate on a free loopback port.
    pub async fn start(ca: &TestCa) -> Result<Self> {
        Ok(Self {
            server: PlatformServer::start(ca, State::default(), handle).await?,
        })
    }

    /// `https://localhost:<port>`, what the app's `matrix_homeserver` points at.
    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    /// The records, scripted faults and waits shared by every platform server.
    pub fn server(&self) -> &PlatformServer<State> {
        &self.server
    }

    /// A new user `@name:localhost` with an access token.
    pub fn user(&self, name: &str) -> User {
        let user = User {
            user_id: format!("@{name}:{SERVER_NAME}"),
            access_token: format!("syt_{}", random_token(40, ALNUM)),
        };
        self.server.with(|s| {
            s.tokens
                .insert(user.access_token.clone(), user.user_id.clone())
        });
        user
    }

    /// A new public room, with `#alias:localhost` when `alias` is given; `members` are in it.
    pub fn room(&self, alias: Option<&str>, members: &[&User]) -> Room {
        self.make_room(alias, members, false)
    }

    /// A new invite-only room: joining needs an invite ([`MatrixHomeserver::invite`]).
    pub fn private_room(&self, alias: Option<&str>, members: &[&User]) -> Room {
        self.make_room(alias, members, true)
    }

    fn make_room(&self, alias: Option<&str>, members: &[&User], invite_only: bool) -> Room {
        let room = Room {
            room_id: format!("!{}:{SERVER_NAME}", random_token(18, ALNUM)),
            alias: alias.map(|a| format!("#{a}:{SERVER_NAME}")),
        };
        let state = RoomState {
            alias: room.alias.clone(),
            invite_only,
            members: members.iter().map(|u| u.user_id.clone()).collect(),
            invited: HashSet::new(),
        };
        self.server
            .with(|s| s.rooms.insert(room.room_id.clone(), state));
        room
    }

    /// Invites `user` to `room`.
    pub fn invite(&self, room: &Room, user: &User) {
        self.server.with(|s| {
            if let Some(r) = s.rooms.get_mut(&room.room_id) {
                r.invited.insert(user.user_id.clone());
            }
        });
    }

    /// Removes `user` from `room` (kicked or left): sending there answers M_FORBIDDEN.
    pub fn kick(&self, room: &Room, user: &User) {
        self.server.with(|s| {
            if let Some(r) = s.rooms.get_mut(&room.room_id) {
                r.members.remove(&user.user_id);
                r.invited.remove(&user.user_id);
            }
        });
    }

    /// Whether `user` is in `room`.
    pub fn is_member(&self, room: &Room, user: &User) -> bool {
        self.server.with(|s| {
            s.rooms
                .get(&room.room_id)
                .is_some_and(|r| r.members.contains(&user.user_id))
        })
    }

    /// Messages posted to `room`, in order.
    pub fn messages(&self, room: &Room) -> Vec<RoomMessage> {
        self.server.with(|s| {
            s.messages
                .iter()
                .filter(|m| m.room_id == room.room_id)
                .cloned()
                .collect()
        })
    }
}
