//! The local push service and webhook receiver against independent senders: `web-push-native`
//! (and the app's own `aurras_domain::webpush`) for push messages, the Standard Webhooks signer
//! for hooks. They must accept what is right and refuse, loudly, what a real peer would refuse.

use std::time::Duration;

use aurras_domain::signature::SigningKey;
use aurras_domain::webpush::{push_request, PushOptions, Urgency, VapidKey};
use aurras_e2e::push_service::{PushService, Subscription};
use aurras_e2e::tls::TestCa;
use aurras_e2e::webhook_receiver::WebhookReceiver;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::json;
use web_push_native::jwt_simple::prelude::{
    Claims, Clock, Duration as JwtDuration, ECDSAP256KeyPairLike, ECDSAP256PublicKeyLike,
    ES256KeyPair, JWTClaims, NoCustomClaims,
};
use web_push_native::{p256, Auth, WebPushBuilder};

const PAYLOAD: &[u8] = br#"{"title":"Transfer","body":"12 PAS from Alice"}"#;
const WAIT: Duration = Duration::from_secs(5);

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

/// The keys as an application server gets them: from the browser's JSON.
fn browser_keys(sub: &Subscription) -> (p256::PublicKey, Auth) {
    let json = sub.to_json();
    assert_eq!(json["expirationTime"], serde_json::Value::Null);
    let point = URL_SAFE_NO_PAD
        .decode(json["keys"]["p256dh"].as_str().expect("p256dh"))
        .expect("base64url");
    assert_eq!(point.len(), 65);
    let auth = URL_SAFE_NO_PAD
        .decode(json["keys"]["auth"].as_str().expect("auth"))
        .expect("base64url");
    assert_eq!(auth.len(), 16);
    (
        p256::PublicKey::from_sec1_bytes(&point).expect("point"),
        Auth::clone_from_slice(&auth),
    )
}

fn vapid(key: &ES256KeyPair, claims: JWTClaims<NoCustomClaims>) -> String {
    let token = key.sign(claims).expect("sign");
    let k = URL_SAFE_NO_PAD.encode(key.public_key().public_key().to_bytes_uncompressed());
    format!("vapid t={token}, k={k}")
}

fn claims(aud: &str) -> JWTClaims<NoCustomClaims> {
    Claims::create(JwtDuration::from_hours(12))
        .with_audience(aud)
        .with_subject("mailto:ops@example.com")
}

async fn post(
    client: &reqwest::Client,
    sub: &Subscription,
    authorization: &str,
    headers: &[(&str, &str)],
) -> u16 {
    let (public, auth) = browser_keys(sub);
    let body = web_push_native::encrypt(PAYLOAD.to_vec(), &public, &auth).expect("encrypt");
    let mut req = client
        .post(sub.endpoint())
        .header("authorization", authorization)
        .body(body);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    req.send().await.expect("sent").status().as_u16()
}

const BASIC: &[(&str, &str)] = &[("content-encoding", "aes128gcm"), ("ttl", "60")];

#[tokio::test]
async fn push_service_accepts_and_decrypts_a_web_push_native_message() {
    let ca = TestCa::new().expect("ca");
    let service = PushService::start(&ca).await.expect("push service");
    let client = ca.client().expect("client");
    let sub = service.subscribe();
    let key = ES256KeyPair::generate();
    let headers = [BASIC, &[("urgency", "high"), ("topic", "transfer-0x12")]].concat();
    let status = post(
        &client,
        &sub,
        &vapid(&key, claims(&service.origin())),
        &headers,
    )
    .await;
    assert_eq!(status, 201, "{:?}", service.rejections());
    let got = service.wait_for(&sub, 1, WAIT).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].plaintext, PAYLOAD);
    assert_eq!(got[0].json().expect("json")["title"], "Transfer");
    assert_eq!((got[0].ttl, got[0].urgency.as_deref()), (60, Some("high")));
    assert_eq!(got[0].topic.as_deref(), Some("transfer-0x12"));
    assert_eq!(got[0].jwt_claims["aud"], service.origin());
    assert_eq!(
        got[0].vapid_public_key,
        URL_SAFE_NO_PAD.encode(key.public_key().public_key().to_bytes_uncompressed())
    );
    assert!(service.rejections().is_empty());
}

#[tokio::test]
async fn push_service_refuses_bad_vapid_and_bad_messages() {
    let ca = TestCa::new().expect("ca");
    let service = PushService::start(&ca).await.expect("push service");
    let client = ca.client().expect("client");
    let sub = service.subscribe();
    let key = ES256KeyPair::generate();
    let good = vapid(&key, claims(&service.origin()));

    // web-push-native's own builder drops the port from `aud`: a real service refuses that.
    let (public, auth) = browser_keys(&sub);
    let request = WebPushBuilder::new(sub.endpoint().parse().expect("uri"), public, auth)
        .with_vapid(&key, "mailto:ops@example.com")
        .build(PAYLOAD)
        .expect("build");
    let request = reqwest::Request::try_from(request).expect("request");
    let status = client.execute(request).await.expect("sent").status();
    assert_eq!(status.as_u16(), 401);

    // A token whose claims were changed after signing.
    let (t, k) = good.split_once(", k=").expect("k");
    let parts: Vec<&str> = t.split('.').collect();
    let forged = URL_SAFE_NO_PAD.encode(
        json!({"aud": service.origin(), "exp": now_secs() + 60, "sub": "mailto:x@y"}).to_string(),
    );
    let tampered = format!("{}.{forged}.{}, k={k}", parts[0], parts[2]);
    assert_eq!(post(&client, &sub, &tampered, BASIC).await, 401);

    let mut expired = claims(&service.origin());
    expired.expires_at = Some(Clock::now_since_epoch() - JwtDuration::from_secs(60));
    assert_eq!(post(&client, &sub, &vapid(&key, expired), BASIC).await, 401);
    let too_long = Claims::create(JwtDuration::from_hours(48))
        .with_audience(service.origin())
        .with_subject("mailto:ops@example.com");
    assert_eq!(
        post(&client, &sub, &vapid(&key, too_long), BASIC).await,
        401
    );
    assert_eq!(post(&client, &sub, "Bearer x", BASIC).await, 401);

    // Headers and body.
    let no_ttl = [("content-encoding", "aes128gcm")];
    assert_eq!(post(&client, &sub, &good, &no_ttl).await, 400);
    let aesgcm = [("content-encoding", "aesgcm"), ("ttl", "60")];
    assert_eq!(post(&client, &sub, &good, &aesgcm).await, 400);
    let urgent = [BASIC, &[("urgency", "urgent")]].concat();
    assert_eq!(post(&client, &sub, &good, &urgent).await, 400);
    let long_topic = "t".repeat(33);
    let topic = [BASIC, &[("topic", long_topic.as_str())]].concat();
    assert_eq!(post(&client, &sub, &good, &topic).await, 400);
    let resp = client
        .post(sub.endpoint())
        .header("authorization", &good)
        .header("content-encoding", "aes128gcm")
        .header("ttl", "60")
        .body(vec![0u8; 120])
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status().as_u16(), 400);
    let resp = client
        .post(sub.endpoint())
        .header("authorization", &good)
        .header("content-encoding", "aes128gcm")
        .header("ttl", "60")
        .body(vec![0u8; 4097])
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status().as_u16(), 413);
    let unknown = format!("{}/push/nobody", service.origin());
    let resp = client.post(unknown).send().await.expect("sent");
    assert_eq!(resp.status().as_u16(), 404);

    // A subscription bound to one applicationServerKey refuses another.
    let other = ES256KeyPair::generate();
    let app_key = URL_SAFE_NO_PAD.encode(other.public_key().public_key().to_bytes_uncompressed());
    let bound = service.subscribe_with_key(&app_key).expect("subscribe");
    assert_eq!(post(&client, &bound, &good, BASIC).await, 403);
    let right = vapid(&other, claims(&service.origin()));
    assert_eq!(post(&client, &bound, &right, BASIC).await, 201);

    assert!(service.received(&sub).is_empty());
    let reasons: Vec<String> = service.rejections().into_iter().map(|r| r.reason).collect();
    let expect = [
        "aud is",
        "signature",
        "expired",
        "ahead",
        "scheme",
        "TTL",
        "Content-Encoding",
        "Urgency",
        "Topic",
        "decrypt",
        "4096",
        "no push",
        "applicationServerKey",
    ];
    assert_eq!(reasons.len(), expect.len(), "{reasons:#?}");
    for (reason, word) in reasons.iter().zip(expect) {
        assert!(reason.contains(word), "{reason:?} should mention {word:?}");
    }
}

#[tokio::test]
async fn push_service_accepts_the_apps_own_messages() {
    let ca = TestCa::new().expect("ca");
    let service = PushService::start(&ca).await.expect("push service");
    let sub = service.subscribe();
    let (key, _) = VapidKey::generate();
    let subscription = serde_json::from_value(sub.to_json()).expect("the app reads the JSON");
    let options = PushOptions {
        ttl_secs: 3600,
        urgency: Urgency::Normal,
        topic: Some("abcdef"),
        subject: "https://aurras.example",
        now_secs: now_secs(),
    };
    let req = push_request(&key, &subscription, PAYLOAD, &options).expect("built");
    let client = ca.client().expect("client");
    let mut http = client.post(&req.url).body(req.body);
    for (name, value) in &req.headers {
        http = http.header(name, value);
    }
    let status = http.send().await.expect("sent").status().as_u16();
    assert_eq!(status, 201, "{:?}", service.rejections());
    let got = service.received(&sub);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].plaintext, PAYLOAD);
    assert_eq!(got[0].vapid_public_key, key.public_key());
    assert_eq!(got[0].jwt_claims["sub"], "https://aurras.example");
}

#[tokio::test]
async fn push_service_scripts_failures_gone_and_hangs() {
    let ca = TestCa::new().expect("ca");
    let service = PushService::start(&ca).await.expect("push service");
    let client = ca.client().expect("client");
    let key = ES256KeyPair::generate();
    let auth = vapid(&key, claims(&service.origin()));
    let sub = service.subscribe();
    service.script(&sub, [500, 429]);
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(post(&client, &sub, &auth, BASIC).await);
    }
    assert_eq!(statuses, [500, 429, 201]);
    assert_eq!(service.received(&sub).len(), 1);
    let attempts: Vec<_> = service.attempts(&sub).iter().map(|a| a.status).collect();
    assert_eq!(attempts, [Some(500), Some(429), Some(201)]);

    service.gone(&sub);
    assert_eq!(post(&client, &sub, &auth, BASIC).await, 410);
    assert_eq!(post(&client, &sub, &auth, BASIC).await, 410);

    let stuck = service.subscribe();
    service.hang(&stuck);
    let (public, secret) = browser_keys(&stuck);
    let body = web_push_native::encrypt(PAYLOAD.to_vec(), &public, &secret).expect("encrypt");
    let err = client
        .post(stuck.endpoint())
        .header("authorization", &auth)
        .header("content-encoding", "aes128gcm")
        .header("ttl", "60")
        .body(body)
        .timeout(Duration::from_millis(500))
        .send()
        .await
        .expect_err("never answered");
    assert!(err.is_timeout(), "{err}");
    assert_eq!(service.attempts(&stuck).len(), 1);
    assert!(service.received(&stuck).is_empty());
    // wait_for gives up and returns what there is.
    assert!(service
        .wait_for(&stuck, 1, Duration::from_millis(100))
        .await
        .is_empty());
    assert!(
        service.rejections().is_empty(),
        "{:?}",
        service.rejections()
    );
}

#[tokio::test]
async fn untrusting_clients_fail_the_handshake() {
    let ca = TestCa::new().expect("ca");
    let service = PushService::start(&ca).await.expect("push service");
    let sub = service.subscribe();
    let other = TestCa::new().expect("another ca").client().expect("client");
    assert!(other.post(sub.endpoint()).send().await.is_err());
    // The server side notices the failed handshake a moment after the client gives up.
    let mut rejections = service.rejections();
    for _ in 0..100 {
        if !rejections.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        rejections = service.rejections();
    }
    assert_eq!(rejections.len(), 1);
    assert_eq!(rejections[0].status, 0);
    assert!(rejections[0].reason.contains("TLS"));
}

#[tokio::test]
async fn webhook_receiver_verifies_signatures() {
    let ca = TestCa::new().expect("ca");
    let receiver = WebhookReceiver::start(&ca).await.expect("receiver");
    let client = ca.client().expect("client");
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let hook = receiver.hook(secret).expect("hook");
    let key = SigningKey::from_secret(secret).expect("key");
    let send = |id: &str, ts: u64, key: &SigningKey, body: &[u8], ct: &str| {
        let signed = key.sign(id, ts, body);
        let mut req = client
            .post(hook.url())
            .header("content-type", ct)
            .body(body.to_vec());
        for (name, value) in signed.pairs() {
            req = req.header(name, value);
        }
        async move { req.send().await.expect("sent").status().as_u16() }
    };
    let body = json!({"event": "Transfer", "amount": "12"}).to_string();
    let json_ct = "application/json";
    assert_eq!(
        send("msg_1", now_secs(), &key, body.as_bytes(), json_ct).await,
        200
    );
    let got = receiver.wait_for(&hook, 1, WAIT).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].body["event"], "Transfer");
    assert_eq!(got[0].id, "msg_1");
    assert!(got[0].headers.contains_key("webhook-signature"));

    let wrong = SigningKey::from_secret("whsec_c2VjcmV0").expect("key");
    assert_eq!(
        send("msg_2", now_secs(), &wrong, body.as_bytes(), json_ct).await,
        401
    );
    assert_eq!(
        send("msg_3", now_secs() - 600, &key, body.as_bytes(), json_ct).await,
        401
    );
    assert_eq!(
        send("msg_4", now_secs(), &key, body.as_bytes(), "text/plain").await,
        415
    );
    assert_eq!(
        send("msg_5", now_secs(), &key, b"not json", json_ct).await,
        400
    );
    let unsigned = client.post(hook.url()).body(body.clone()).send().await;
    assert_eq!(unsigned.expect("sent").status().as_u16(), 401);
    let reasons: Vec<String> = receiver
        .rejections()
        .into_iter()
        .map(|r| r.reason)
        .collect();
    assert_eq!(reasons.len(), 5, "{reasons:#?}");
    assert!(reasons[0].contains("no signature matches"), "{reasons:?}");
    assert!(reasons[1].contains("timestamp"), "{reasons:?}");

    receiver.script(&hook, [503]);
    assert_eq!(
        send("msg_6", now_secs(), &key, body.as_bytes(), json_ct).await,
        503
    );
    assert_eq!(
        send("msg_6", now_secs(), &key, body.as_bytes(), json_ct).await,
        200
    );
    receiver.always(&hook, 410);
    assert_eq!(
        send("msg_7", now_secs(), &key, body.as_bytes(), json_ct).await,
        410
    );
    let statuses: Vec<_> = receiver.attempts(&hook).iter().map(|a| a.status).collect();
    assert_eq!(statuses, [Some(200), Some(503), Some(200), Some(410)]);
    assert_eq!(receiver.received(&hook).len(), 2);

    let pending = receiver.pending_hook();
    let signed = key.sign("msg_9", now_secs(), body.as_bytes());
    let mut req = client
        .post(pending.url())
        .header("content-type", json_ct)
        .body(body.clone());
    for (name, value) in signed.pairs() {
        req = req.header(name, value);
    }
    let retry = req.try_clone().expect("clonable");
    assert_eq!(req.send().await.expect("sent").status().as_u16(), 401);
    receiver.set_secret(&pending, secret).expect("secret");
    assert_eq!(retry.send().await.expect("sent").status().as_u16(), 200);
    assert!(receiver.rejections()[5].reason.contains("no secret yet"));

    let slow = receiver.hook(secret).expect("hook");
    receiver.hang(&slow);
    let signed = key.sign("msg_8", now_secs(), body.as_bytes());
    let mut req = client
        .post(slow.url())
        .header("content-type", json_ct)
        .body(body.clone())
        .timeout(Duration::from_millis(500));
    for (name, value) in signed.pairs() {
        req = req.header(name, value);
    }
    assert!(req.send().await.expect_err("never answered").is_timeout());
    assert_eq!(receiver.attempts(&slow).len(), 1);
}
