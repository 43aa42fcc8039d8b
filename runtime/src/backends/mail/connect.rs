//! Opening the stream an SMTP session runs on: every connection, plain, STARTTLS and
//! implicit TLS alike, is a TCP stream with `TCP_NODELAY`, which lettre's own connect does
//! not set.
//!
//! Why it matters: lettre writes a message's content and the closing `\r\n.\r\n` in two
//! writes, so with Nagle's algorithm on, the terminator waits for the server's delayed ACK
//! (40 ms on Linux): every message then takes ~45 ms whatever the server does. lettre hands
//! a stream of ours to a session with `AsyncSmtpConnection::connect_with_transport`, which
//! takes no TLS parameters: for implicit TLS this module runs the rustls handshake itself,
//! trusting the same roots as lettre's STARTTLS (the web PKI's and `ca_file`'s).

use super::smtp::SmtpConfigError;
use lettre::transport::smtp::client::AsyncTokioStream;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// Opens streams to one SMTP server.
#[derive(Clone)]
pub(super) struct Connector {
    host: String,
    port: u16,
    /// `Some` for implicit TLS: the handshake runs before lettre sees the stream.
    implicit_tls: Option<(TlsConnector, ServerName<'static>)>,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("implicit_tls", &self.implicit_tls.is_some())
            .finish()
    }
}

impl Connector {
    /// Plain TCP (the session may then upgrade with STARTTLS).
    pub(super) fn plain(host: &str, port: u16) -> Connector {
        Connector {
            host: host.to_owned(),
            port,
            implicit_tls: None,
        }
    }

    /// TLS from the first byte, checking the server's certificate against the web PKI's
    /// roots and those of `ca_file`, and against `host`.
    pub(super) fn implicit_tls(
        host: &str,
        port: u16,
        ca_file: Option<&Path>,
    ) -> Result<Connector, SmtpConfigError> {
        let name = ServerName::try_from(host.to_owned()).map_err(|source| {
            SmtpConfigError::ServerName {
                host: host.to_owned(),
                source,
            }
        })?;
        let config = client_config(ca_file)?;
        let tls = (TlsConnector::from(Arc::new(config)), name);
        Ok(Connector {
            implicit_tls: Some(tls),
            ..Connector::plain(host, port)
        })
    }

    /// A connected stream, TLS established for implicit TLS.
    pub(super) async fn open(&self) -> std::io::Result<Transport> {
        let tcp = TcpStream::connect((self.host.as_str(), self.port)).await?;
        tcp.set_nodelay(true)?;
        match &self.implicit_tls {
            None => Ok(Transport::Plain(tcp)),
            Some((tls, name)) => {
                let stream = tls.connect(name.clone(), tcp).await?;
                Ok(Transport::Tls(Box::new(stream)))
            }
        }
    }
}

/// rustls with the provider and roots lettre uses for STARTTLS.
fn client_config(ca_file: Option<&Path>) -> Result<rustls::ClientConfig, SmtpConfigError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = ca_file {
        let certs = CertificateDer::pem_file_iter(path)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|source| SmtpConfigError::CaFilePem {
                path: path.to_owned(),
                source,
            })?;
        if certs.is_empty() {
            let path = path.to_owned();
            return Err(SmtpConfigError::NoCertificate { path });
        }
        let (_added, _ignored) = roots.add_parsable_certificates(certs);
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?;
    Ok(builder.with_root_certificates(roots).with_no_client_auth())
}

/// The stream handed to lettre: TCP with `TCP_NODELAY`, inside TLS for implicit TLS.
#[derive(Debug)]
pub(super) enum Transport {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS over TCP.
    Tls(Box<TlsStream<TcpStream>>),
}

impl Transport {
    /// The TCP stream underneath.
    pub(super) fn tcp(&self) -> &TcpStream {
        match self {
            Transport::Plain(tcp) => tcp,
            Transport::Tls(tls) => tls.get_ref().0,
        }
    }
}

impl AsyncTokioStream for Transport {
    fn peer_addr(&self) -> std::io::Result<SocketAddr> {
        self.tcp().peer_addr()
    }
}

impl AsyncRead for Transport {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(tcp) => Pin::new(tcp).poll_read(cx, buf),
            Transport::Tls(tls) => Pin::new(tls.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Transport {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Transport::Plain(tcp) => Pin::new(tcp).poll_write(cx, buf),
            Transport::Tls(tls) => Pin::new(tls.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(tcp) => Pin::new(tcp).poll_flush(cx),
            Transport::Tls(tls) => Pin::new(tls.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(tcp) => Pin::new(tcp).poll_shutdown(cx),
            Transport::Tls(tls) => Pin::new(tls.as_mut()).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{SmtpConfig, SmtpTls};
    use std::process::Command;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A private CA and a certificate it signed for 127.0.0.1, made with the openssl
    /// command line (as the SMTP integration tests do): (CA file, certificate, key).
    fn certificates(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
        let at = |name: &str| dir.join(name).display().to_string();
        let ext = dir.join("ext");
        std::fs::write(
            &ext,
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
        )
        .unwrap();
        let steps: [&[&str]; 3] = [
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=test CA",
                "-keyout",
                &at("ca.key"),
                "-out",
                &at("ca.pem"),
            ],
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                "/CN=127.0.0.1",
                "-keyout",
                &at("key.pem"),
                "-out",
                &at("csr.pem"),
            ],
            &[
                "x509",
                "-req",
                "-in",
                &at("csr.pem"),
                "-CA",
                &at("ca.pem"),
                "-CAkey",
                &at("ca.key"),
                "-CAcreateserial",
                "-days",
                "1",
                "-extfile",
                &ext.display().to_string(),
                "-out",
                &at("cert.pem"),
            ],
        ];
        for args in steps {
            let out = Command::new("openssl")
                .args(args)
                .output()
                .expect("openssl (Debian package)");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        (
            dir.join("ca.pem"),
            dir.join("cert.pem"),
            dir.join("key.pem"),
        )
    }

    /// Accepts one connection, with TLS when given a certificate and key, and answers
    /// `220` to it.
    async fn serve_one(
        listener: TcpListener,
        tls: Option<(std::path::PathBuf, std::path::PathBuf)>,
    ) {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut stream: Box<dyn AsyncTokioStreamish> = match tls {
            None => Box::new(tcp),
            Some((cert, key)) => {
                let chain = CertificateDer::pem_file_iter(&cert)
                    .unwrap()
                    .map(Result::unwrap)
                    .collect();
                let key = rustls::pki_types::PrivateKeyDer::from_pem_file(&key).unwrap();
                let provider = Arc::new(rustls::crypto::ring::default_provider());
                let config = rustls::ServerConfig::builder_with_provider(provider)
                    .with_safe_default_protocol_versions()
                    .unwrap()
                    .with_no_client_auth()
                    .with_single_cert(chain, key)
                    .unwrap();
                let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
                Box::new(acceptor.accept(tcp).await.unwrap())
            }
        };
        stream.write_all(b"220 test\r\n").await.unwrap();
        let _ = stream.read(&mut [0; 16]).await;
    }

    trait AsyncTokioStreamish: AsyncRead + AsyncWrite + Unpin + Send {}
    impl<T: AsyncRead + AsyncWrite + Unpin + Send> AsyncTokioStreamish for T {}

    fn smtp(port: u16, tls: SmtpTls, ca_file: Option<std::path::PathBuf>) -> SmtpConfig {
        SmtpConfig {
            host: "127.0.0.1".into(),
            port: Some(port),
            tls,
            username: None,
            password: None,
            timeout_ms: 5_000,
            pool_size: 1,
            ca_file,
        }
    }

    /// The stream handed to lettre has `TCP_NODELAY` in every mode: plain and STARTTLS (a
    /// plain stream lettre upgrades in place) and implicit TLS (after our handshake).
    #[tokio::test]
    async fn every_stream_handed_to_lettre_has_nodelay() {
        let dir = tempfile::tempdir().unwrap();
        let (ca, cert, key) = certificates(dir.path());
        for tls in [SmtpTls::None, SmtpTls::Starttls, SmtpTls::Tls] {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = listener.local_addr().unwrap().port();
            let server_tls = (tls == SmtpTls::Tls).then(|| (cert.clone(), key.clone()));
            let server = tokio::spawn(serve_one(listener, server_tls));
            let connector =
                super::super::smtp::connector(&smtp(port, tls, Some(ca.clone()))).unwrap();
            let mut stream = connector
                .open()
                .await
                .unwrap_or_else(|e| panic!("{tls:?}: {e}"));
            assert!(stream.tcp().nodelay().unwrap(), "{tls:?}: TCP_NODELAY");
            assert_eq!(
                matches!(stream, Transport::Tls(_)),
                tls == SmtpTls::Tls,
                "{tls:?}"
            );
            let mut greeting = [0; 10];
            stream.read_exact(&mut greeting).await.unwrap();
            assert_eq!(&greeting, b"220 test\r\n", "{tls:?}");
            drop(stream);
            server.await.unwrap();
        }
    }

    #[test]
    fn a_ca_file_without_certificates_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let e = Connector::implicit_tls("127.0.0.1", 465, Some(&empty)).unwrap_err();
        assert!(
            matches!(
                e,
                SmtpConfigError::NoCertificate { .. } | SmtpConfigError::CaFilePem { .. }
            ),
            "{e}"
        );
    }
}
