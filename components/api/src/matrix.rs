//! The Matrix bot joins a trigger's room before the trigger is stored: that accepts the person's
//! invite, resolves an alias to the room id deliveries post to, and refuses, with what to do, a
//! room the bot may not enter, instead of storing a trigger whose every delivery would fail.
//! The requests and what their answers mean are the domain's ([`aurras_domain::channel::matrix`]);
//! this sends them, one at a time, through the components' outbound HTTP with its time-outs.

use std::time::Duration;

use aurras_domain::action::ActionSpec;
use aurras_domain::answer::Answer;
use aurras_domain::channel::matrix::{self, Joined};
use aurras_domain::dispatch::HttpRequest;
use aurras_domain::{ApiError, ApiResult};
use aurras_spin::deliver;
use aurras_spin::outbound::{Sender, Timeouts};

/// Short enough for a person waiting on a create, long enough for a homeserver that federates
/// to resolve a remote alias.
const TIMEOUTS: Timeouts = Timeouts {
    connect: Duration::from_secs(5),
    first_byte: Duration::from_secs(15),
    overall: Duration::from_secs(20),
    per_host: 1,
};

fn send(request: HttpRequest) -> Answer {
    let mut sender = Sender::new(TIMEOUTS);
    sender.send(request);
    sender
        .finish()
        .into_iter()
        .next()
        .unwrap_or_else(|| Answer::none("the request was not sent"))
}

/// Whether `action` is a Matrix room, which [`join`] must enter before it is stored.
pub fn is_matrix(action: Option<&ActionSpec>) -> bool {
    matches!(action, Some(ActionSpec::Matrix(_)))
}

/// Makes the bot join a Matrix action's room and records the room id in it; other actions are
/// left as they are. Call after [`ActionSpec::admit`], which checks the room's shape.
pub fn join(action: Option<&mut ActionSpec>) -> ApiResult<()> {
    let Some(ActionSpec::Matrix(room)) = action else {
        return Ok(());
    };
    let platforms = deliver::platforms();
    // Only a deployment mistake (a homeserver that is not a URL) makes a request fail to build.
    let build = |r: Result<HttpRequest, String>| r.map_err(ApiError::internal);
    let answer = send(build(matrix::join_request(&room.room, &platforms))?);
    match matrix::classify_join(&room.room, &answer) {
        Joined::Room(id) => {
            room.room_id = Some(id);
            Ok(())
        }
        Joined::NotInvited(detail) => {
            // Who to invite, asked only when the person needs to know.
            let bot = matrix::whoami_request(&platforms)
                .ok()
                .and_then(|who| matrix::user_id(&send(who)));
            Err(matrix::not_invited(&room.room, &detail, bot.as_deref()))
        }
        Joined::Refused(error) => Err(error),
    }
}
