//! Upstream servers for outbound-request tests: a CA made per test, HTTPS (optionally requiring
//! a client certificate) or plain HTTP on loopback, answering in a scripted way.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, ExtendedKeyUsagePurpose, IsCa, KeyPair,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A CA with a server certificate for `localhost`/`127.0.0.1` and a client certificate, written
/// as PEM files into `dir`: `ca.pem`, `client.pem`, `client.key`.
pub struct TestCa {
    ca_der: CertificateDer<'static>,
    server_chain: Vec<CertificateDer<'static>>,
    server_key: Vec<u8>,
}

impl TestCa {
    pub fn new(dir: &Path) -> Self {
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("ca key"))
            .expect("ca");

        let leaf = |names: Vec<String>, usage: ExtendedKeyUsagePurpose| {
            let mut params = CertificateParams::new(names).expect("params");
            params.extended_key_usages = vec![usage];
            let key = KeyPair::generate().expect("key");
            let cert = params.signed_by(&key, &ca).expect("sign");
            (cert, key)
        };
        let (server, server_key) = leaf(
            vec!["localhost".into(), "127.0.0.1".into()],
            ExtendedKeyUsagePurpose::ServerAuth,
        );
        let (client, client_key) = leaf(
            vec!["client.test".into()],
            ExtendedKeyUsagePurpose::ClientAuth,
        );
        std::fs::write(dir.join("ca.pem"), ca.pem()).expect("write ca");
        std::fs::write(dir.join("client.pem"), client.pem()).expect("write client cert");
        std::fs::write(dir.join("client.key"), client_key.serialize_pem()).expect("write key");
        Self {
            ca_der: ca.der().clone(),
            server_chain: vec![server.der().clone()],
            server_key: server_key.serialize_der(),
        }
    }

    fn server_config(&self, require_client_cert: bool) -> rustls::ServerConfig {
        let builder = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("versions");
        let builder = if require_client_cert {
            let mut roots = rustls::RootCertStore::empty();
            roots.add(self.ca_der.clone()).expect("root");
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                roots.into(),
                provider(),
            )
            .build()
            .expect("verifier");
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.server_key.clone()));
        builder
            .with_single_cert(self.server_chain.clone(), key)
            .expect("server cert")
    }
}

/// How the upstream answers.
#[derive(Debug, Clone, Copy)]
pub enum Answer {
    /// `200` with `hello`.
    Hello,
    /// Reads the request and says nothing.
    Silence,
    /// Sends the head and half the body, then nothing.
    Stall,
}

/// A server on 127.0.0.1 serving until dropped.
pub struct Upstream {
    pub port: u16,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Upstream {
    /// HTTPS with the CA's server certificate.
    pub async fn https(ca: &TestCa, require_client_cert: bool, answer: Answer) -> Self {
        let acceptor =
            tokio_rustls::TlsAcceptor::from(Arc::new(ca.server_config(require_client_cert)));
        Self::serve(Some(acceptor), answer).await
    }

    /// Plain HTTP.
    pub async fn http(answer: Answer) -> Self {
        Self::serve(None, answer).await
    }

    async fn serve(tls: Option<tokio_rustls::TlsAcceptor>, answer: Answer) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((tcp, _)) = listener.accept().await {
                let tls = tls.clone();
                connections.spawn(async move {
                    match tls {
                        // A failed handshake is what some tests expect: just drop the client.
                        Some(tls) => {
                            if let Ok(stream) = tls.accept(tcp).await {
                                respond(stream, answer).await;
                            }
                        }
                        None => respond(tcp, answer).await,
                    }
                });
            }
        });
        Self { port, task }
    }
}

async fn respond(mut stream: impl AsyncRead + AsyncWrite + Unpin, answer: Answer) {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let reply: &[u8] = match answer {
        Answer::Hello => b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello",
        Answer::Silence => b"",
        Answer::Stall => b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nhello",
    };
    let _ = stream.write_all(reply).await;
    let _ = stream.flush().await;
    if !matches!(answer, Answer::Hello) {
        tokio::time::sleep(Duration::from_secs(60)).await;
    }
    let _ = stream.shutdown().await;
}

/// `runtime-config.toml` in `dir` with `text`; returns its path.
pub fn runtime_config(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("runtime-config.toml");
    std::fs::write(&path, text).expect("write runtime config");
    path
}

/// The probe's `fetch` query for `url` (encoded the way the probe decodes it) plus `extra`.
pub fn fetch(url: &str, extra: &str) -> String {
    format!(
        "/?op=fetch&url={}{extra}",
        url.replace(':', "%3A").replace('/', "%2F")
    )
}
