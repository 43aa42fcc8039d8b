//! [`SmtpBackend`]: lettre's low-level async SMTP connection, pooled, with the DATA rule
//! (see the module above).

use super::build;
use super::connect::Connector;
use crate::config::{SmtpConfig, SmtpTls};
use crate::host::{Email, EmailBackend, EmailBackendError};
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, Certificate, TlsParameters};
use lettre::transport::smtp::commands::{Data, Mail, Rcpt};
use lettre::transport::smtp::extension::{ClientId, Extension, MailBodyParameter, MailParameter};
use lettre::transport::smtp::Error as SmtpError;
use rustls::pki_types::pem::Error as PemError;
use rustls::pki_types::InvalidDnsNameError;
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Why an `[email.smtp]` section cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SmtpConfigError {
    /// `timeout_ms` is 0.
    #[error("[email.smtp]: timeout_ms must be above 0")]
    ZeroTimeout,
    /// `username` is set, `password` is not.
    #[error("[email.smtp]: `username` is set without `password`")]
    UsernameWithoutPassword,
    /// `password` is set, `username` is not.
    #[error("[email.smtp]: `password` is set without `username`")]
    PasswordWithoutUsername,
    /// `ca_file` cannot be read.
    #[error("[email.smtp]: cannot read ca_file {}: {source}", .path.display())]
    ReadCaFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// `ca_file` is not a PEM certificate (as STARTTLS reads it).
    #[error("[email.smtp]: ca_file {} is not a PEM certificate: {source}", .path.display())]
    CaFileNotPem {
        /// The file.
        path: PathBuf,
        /// What lettre said.
        source: SmtpError,
    },
    /// lettre refused the STARTTLS settings for `host`.
    #[error("[email.smtp]: TLS for host `{host}`: {source}")]
    Starttls {
        /// `host`.
        host: String,
        /// What lettre said.
        source: SmtpError,
    },
    /// `host` is not a DNS name or an IP address, which implicit TLS checks the
    /// certificate against.
    #[error("[email.smtp]: `{host}` is not a host name TLS can check a certificate against")]
    ServerName {
        /// `host`.
        host: String,
        /// What rustls said.
        source: InvalidDnsNameError,
    },
    /// `ca_file` does not read as PEM (as implicit TLS reads it).
    #[error("[email.smtp]: ca_file {} holds no PEM certificate: {source}", .path.display())]
    CaFilePem {
        /// The file.
        path: PathBuf,
        /// What the PEM parser said.
        source: PemError,
    },
    /// `ca_file` reads as PEM but holds no `CERTIFICATE` block.
    #[error(
        "[email.smtp]: ca_file {} holds no PEM certificate: no CERTIFICATE block",
        .path.display()
    )]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// rustls refused the implicit TLS configuration.
    #[error("[email.smtp]: TLS: {0}")]
    Rustls(#[from] rustls::Error),
}

/// How the connection is secured, with the TLS settings STARTTLS needs (implicit TLS is
/// the [`Connector`]'s).
#[derive(Clone)]
enum Security {
    Plain,
    Starttls(TlsParameters),
    ImplicitTls,
}

/// What every connection to the server shares.
struct Server {
    host: String,
    port: u16,
    /// Opens every connection's stream (`TCP_NODELAY`; the TLS handshake of implicit TLS).
    connector: Connector,
    security: Security,
    credentials: Option<Credentials>,
    hello: ClientId,
    /// Bounds each command, and the whole connection set-up (TCP, TLS, EHLO, login).
    timeout: Duration,
    /// Idle connections kept for reuse.
    pool_size: usize,
    /// A std mutex: it is only held to push or pop, never across an await. Each idle
    /// connection with the time it was put back.
    idle: Mutex<Vec<(AsyncSmtpConnection, Instant)>>,
    /// See [`FRESH_IDLE`].
    fresh_idle: Duration,
}

/// An idle connection put back less than this long ago is reused without a `NOOP` first:
/// SMTP servers keep an idle connection for minutes (RFC 5321 asks for at least 5), and a
/// `NOOP` is one round trip more per message (a sixth of a message's, on loopback). If the
/// server closed it anyway, nothing was sent yet when `MAIL` fails, and the message goes
/// over a new connection once. Older idle connections answer a `NOOP` before reuse.
const FRESH_IDLE: Duration = Duration::from_secs(5);

/// Sends through the host's SMTP server (the server and its credentials are never visible
/// to guests). Cheap to clone; clones share the pool.
///
/// The pool keeps up to `pool_size` idle connections: one idle for less than [`FRESH_IDLE`]
/// is reused at once (if its `MAIL` fails, the message goes over a new connection once),
/// an older one only after it answers `NOOP` (else it is dropped and the next one, or a
/// new connection, is tried); a connection
/// that saw any error is dropped, never pooled; when the pool is full, a finished connection
/// is closed with `QUIT`. Connections in use are not capped here: the engine's instance
/// pool bounds the calls in flight.
#[derive(Clone)]
pub struct SmtpBackend {
    server: Arc<Server>,
}

impl std::fmt::Debug for SmtpBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpBackend")
            .field("host", &self.server.host)
            .field("port", &self.server.port)
            .finish_non_exhaustive()
    }
}

impl SmtpBackend {
    /// A backend for `config`. TLS (STARTTLS or implicit) goes through rustls and checks the
    /// server's certificate against the webpki roots and `host`; login uses PLAIN or LOGIN,
    /// only when `username` is set. No connection is made until the first message.
    pub fn new(config: &SmtpConfig) -> Result<SmtpBackend, SmtpConfigError> {
        let server = Server {
            host: config.host.clone(),
            port: config.port(),
            connector: connector(config)?,
            security: security(config)?,
            credentials: credentials(config)?,
            hello: ClientId::default(),
            timeout: Duration::from_millis(config.timeout_ms),
            pool_size: config.pool_size,
            idle: Mutex::new(Vec::new()),
            fresh_idle: FRESH_IDLE,
        };
        if server.timeout.is_zero() {
            return Err(SmtpConfigError::ZeroTimeout);
        }
        if server.credentials.is_some() && matches!(server.security, Security::Plain) {
            let host = &server.host;
            tracing::warn!(%host, "[email.smtp] logs in over an unencrypted connection (tls = \"none\")");
        }
        let server = Arc::new(server);
        Ok(SmtpBackend { server })
    }
}

#[cfg(test)]
impl SmtpBackend {
    /// How many connections wait in the pool.
    pub(super) fn idle_count(&self) -> usize {
        let idle = self.server.idle.lock();
        idle.unwrap_or_else(PoisonError::into_inner).len()
    }

    /// A backend whose idle connections are checked with `NOOP` once idle for `fresh`.
    pub(super) fn with_fresh_idle(config: &SmtpConfig, fresh: Duration) -> SmtpBackend {
        let mut backend = SmtpBackend::new(config).expect("a valid test configuration");
        let server = Arc::get_mut(&mut backend.server).expect("a backend of its own");
        server.fresh_idle = fresh;
        backend
    }
}

fn security(config: &SmtpConfig) -> Result<Security, SmtpConfigError> {
    let tls = || {
        let mut builder = TlsParameters::builder(config.host.clone());
        if let Some(ca_file) = &config.ca_file {
            builder = builder.add_root_certificate(ca_certificate(ca_file)?);
        }
        builder
            .build_rustls()
            .map_err(|source| SmtpConfigError::Starttls {
                host: config.host.clone(),
                source,
            })
    };
    Ok(match config.tls {
        SmtpTls::None => Security::Plain,
        SmtpTls::Starttls => Security::Starttls(tls()?),
        SmtpTls::Tls => Security::ImplicitTls,
    })
}

pub(super) fn connector(config: &SmtpConfig) -> Result<Connector, SmtpConfigError> {
    let (host, port) = (config.host.as_str(), config.port());
    match config.tls {
        SmtpTls::None | SmtpTls::Starttls => Ok(Connector::plain(host, port)),
        SmtpTls::Tls => Connector::implicit_tls(host, port, config.ca_file.as_deref()),
    }
}

/// The private CA of `ca_file` (PEM).
fn ca_certificate(path: &std::path::Path) -> Result<Certificate, SmtpConfigError> {
    let pem = std::fs::read(path).map_err(|source| SmtpConfigError::ReadCaFile {
        path: path.to_owned(),
        source,
    })?;
    Certificate::from_pem(&pem).map_err(|source| SmtpConfigError::CaFileNotPem {
        path: path.to_owned(),
        source,
    })
}

fn credentials(config: &SmtpConfig) -> Result<Option<Credentials>, SmtpConfigError> {
    match (&config.username, &config.password) {
        (Some(user), Some(password)) => Ok(Some(Credentials::new(
            user.clone(),
            password.expose().to_owned(),
        ))),
        (None, None) => Ok(None),
        (Some(_), None) => Err(SmtpConfigError::UsernameWithoutPassword),
        (None, Some(_)) => Err(SmtpConfigError::PasswordWithoutUsername),
    }
}

#[async_trait::async_trait]
impl EmailBackend for SmtpBackend {
    async fn send(&self, email: &Email, deadline: Instant) -> Result<(), EmailBackendError> {
        let message = build(email)?;
        let content = message.formatted();
        let envelope = message.envelope();
        if Instant::now() >= deadline {
            return Err(EmailBackendError::Deadline);
        }
        let opened = self.server.open(envelope, content.is_ascii());
        let conn = match tokio::time::timeout_at(deadline.into(), opened).await {
            Err(_elapsed) => return Err(EmailBackendError::Deadline),
            Ok(conn) => conn?,
        };
        // Past the point of no return: finish in a task of its own.
        let server = self.server.clone();
        let finishing = tokio::spawn(async move { server.finish(conn, content).await });
        finishing.await.unwrap_or_else(|e| {
            Err(EmailBackendError::Transient(format!(
                "the SMTP task failed: {e}"
            )))
        })
    }

    /// Past `DATA`, the content and the final reply are each bounded by the command timeout.
    fn overrun(&self) -> Duration {
        self.server.timeout * 2
    }
}

/// A message's content as the server reads it after `DATA`: dot-stuffed and ended by the
/// lone dot, sent as one command, so one write. lettre's own `message` writes the content
/// and the end as two, and the server wakes up twice for every message.
pub(super) struct Content(String);

impl Content {
    /// `None` when the content is not UTF-8 (lettre's `message` sends it then).
    pub(super) fn end_with_dot(content: &[u8]) -> Option<Content> {
        let text = std::str::from_utf8(content).ok()?;
        let mut data = String::with_capacity(content.len() + 16);
        for line in text.split_inclusive('\n') {
            if line.starts_with('.') {
                data.push('.');
            }
            data.push_str(line);
        }
        if !data.ends_with("\r\n") {
            data.push_str("\r\n");
        }
        data.push_str(".\r\n");
        Some(Content(data))
    }
}

impl std::fmt::Display for Content {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Server {
    /// A connection on which `MAIL`, `RCPT` and `DATA` succeeded: the server waits for the
    /// content. On error the connection is dropped (the server discards the transaction).
    async fn open(
        &self,
        envelope: &Envelope,
        ascii: bool,
    ) -> Result<AsyncSmtpConnection, EmailBackendError> {
        let (mut conn, unchecked) = self.checkout().await?;
        match self.mail(&mut conn, envelope, ascii).await {
            // Reused without a NOOP and gone stale: nothing was sent, try a new connection.
            Err(EmailBackendError::Transient(_)) if unchecked => {
                conn = self.connect().await?;
                self.mail(&mut conn, envelope, ascii).await?;
            }
            done => done?,
        }
        for to in envelope.to() {
            self.step(conn.command(Rcpt::new(to.clone(), Vec::new())))
                .await?;
        }
        self.step(conn.command(Data)).await?;
        Ok(conn)
    }

    /// `MAIL FROM`, with the parameters this connection's server needs.
    async fn mail(
        &self,
        conn: &mut AsyncSmtpConnection,
        envelope: &Envelope,
        ascii: bool,
    ) -> Result<(), EmailBackendError> {
        let options = self.mail_options(conn, envelope, ascii)?;
        let from = envelope.from().cloned();
        self.step(conn.command(Mail::new(from, options)))
            .await
            .map(drop)
    }

    /// Sends the content and reads the final reply; keeps the connection if it went well.
    async fn finish(
        &self,
        mut conn: AsyncSmtpConnection,
        content: Vec<u8>,
    ) -> Result<(), EmailBackendError> {
        match Content::end_with_dot(&content) {
            Some(data) => self.step(conn.command(data)).await?,
            None => self.step(conn.message(&content)).await?,
        };
        self.checkin(conn);
        Ok(())
    }

    /// `MAIL FROM` parameters, as lettre's own `send` chooses them.
    fn mail_options(
        &self,
        conn: &AsyncSmtpConnection,
        envelope: &Envelope,
        ascii: bool,
    ) -> Result<Vec<MailParameter>, EmailBackendError> {
        let info = conn.server_info();
        let refuse = |what: &str| {
            let why = format!("{what}, which the SMTP server does not support");
            Err(EmailBackendError::Permanent(why))
        };
        let mut options = Vec::new();
        let addresses = envelope.from().into_iter().chain(envelope.to());
        if !addresses.map(AsRef::<str>::as_ref).all(str::is_ascii) {
            if !info.supports_feature(Extension::SmtpUtfEight) {
                return refuse("an address is not ASCII (SMTPUTF8)");
            }
            options.push(MailParameter::SmtpUtfEight);
        }
        if !ascii {
            if !info.supports_feature(Extension::EightBitMime) {
                return refuse("the message is not ASCII (8BITMIME)");
            }
            options.push(MailParameter::Body(MailBodyParameter::EightBitMime));
        }
        Ok(options)
    }

    /// A connection, and whether it is reused without a check: an idle one put back
    /// within [`FRESH_IDLE`] (unchecked), else an idle one that answers `NOOP`, else a new
    /// one.
    async fn checkout(&self) -> Result<(AsyncSmtpConnection, bool), EmailBackendError> {
        while let Some((mut conn, since)) = self.take_idle() {
            if conn.has_broken() {
                continue;
            }
            if since.elapsed() < self.fresh_idle {
                return Ok((conn, true));
            }
            let alive = tokio::time::timeout(self.timeout, conn.test_connected()).await;
            if matches!(alive, Ok(true)) && !conn.has_broken() {
                return Ok((conn, false));
            }
        }
        Ok((self.connect().await?, false))
    }

    fn take_idle(&self) -> Option<(AsyncSmtpConnection, Instant)> {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        idle.pop()
    }

    /// Keeps a connection for reuse, or says goodbye when the pool is full.
    fn checkin(&self, mut conn: AsyncSmtpConnection) {
        {
            let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
            if idle.len() < self.pool_size {
                idle.push((conn, Instant::now()));
                return;
            }
        }
        let timeout = self.timeout;
        tokio::spawn(async move {
            let _ = tokio::time::timeout(timeout, conn.quit()).await;
        });
    }

    /// Connects, secures and logs in. Any failure here is the host's server or
    /// configuration, never the message: transient, whatever the reply code. The details
    /// (which server, which step) go to the runtime's log, not to the guest.
    async fn connect(&self) -> Result<AsyncSmtpConnection, EmailBackendError> {
        let error = match tokio::time::timeout(self.timeout, self.session()).await {
            Ok(Ok(conn)) => return Ok(conn),
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no session within {} ms", self.timeout.as_millis()),
        };
        let (host, port) = (&self.host, self.port);
        tracing::warn!(%host, port, %error, "cannot open an SMTP session");
        let why = "the SMTP server is unavailable (connecting, TLS or login failed)";
        Err(EmailBackendError::Transient(why.into()))
    }

    async fn session(&self) -> Result<AsyncSmtpConnection, SessionError> {
        let stream = Box::new(self.connector.open().await?);
        let mut conn = AsyncSmtpConnection::connect_with_transport(stream, &self.hello).await?;
        if let Security::Starttls(tls) = &self.security {
            conn.starttls(tls.clone(), &self.hello).await?;
        }
        if let Some(credentials) = &self.credentials {
            conn.auth(&[Mechanism::Plain, Mechanism::Login], credentials)
                .await?;
        }
        Ok(conn)
    }

    /// One command of a transaction, bounded by the command timeout.
    async fn step<T>(
        &self,
        command: impl Future<Output = Result<T, SmtpError>>,
    ) -> Result<T, EmailBackendError> {
        match tokio::time::timeout(self.timeout, command).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(classify(&e)),
            Err(_) => Err(EmailBackendError::Transient(format!(
                "the SMTP server did not answer within {} ms",
                self.timeout.as_millis()
            ))),
        }
    }
}

/// Why a session could not be opened: the connection, or the SMTP exchange.
#[derive(Debug, thiserror::Error)]
enum SessionError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Smtp(#[from] SmtpError),
}

/// A 5xx reply is permanent; a 4xx reply, an I/O error, a disconnect or a garbled reply is
/// transient. The text (the server's reply) is for the guest: it names no host.
fn classify(error: &SmtpError) -> EmailBackendError {
    let message = format!("SMTP server: {error}");
    if error.is_permanent() {
        EmailBackendError::Permanent(message)
    } else {
        EmailBackendError::Transient(message)
    }
}
