//! A real Kinto for one test: the `kinto` of the tests' Python (`scripts/dev test` installs
//! Kinto 26.5 with `kinto[postgresql]`, kinto-redis and this repository's plugin into
//! `.venv`), on PostgreSQL, on a free port of 127.0.0.1; killed on drop.
//!
//! The plugin is imported from the checkout (`integrations/kinto` first on `PYTHONPATH`), so
//! the suite tests the code beside it, not an older installed copy; `tests/support` holds
//! the suite's own Kinto listener (`explode`).

use super::postgres::Postgres;
use super::{free_port, python, quiet};
use crate::helpers;
use crate::http::exchange;
use base64::Engine as _;
use serde_json::Value;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Free ports tried before giving up.
const PORT_ATTEMPTS: usize = 5;

/// How long a fresh Kinto may take to answer its heartbeat.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The fixtures' secret (`../shared/fixtures/kinto-events`): alice's user id is the same.
const HMAC_SECRET: &str = "aaaabbbbccccddddeeeeffff00001111aaaabbbbccccddddeeeeffff00001111";

/// A running Kinto.
#[derive(Debug)]
pub struct Kinto {
    address: SocketAddr,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Kinto {
    /// Migrates `postgres`'s database and starts Kinto with `app_lines` added to its
    /// `[app:main]` (plugins, listeners, the plugin's settings).
    pub fn start(postgres: &Postgres, app_lines: &str) -> Kinto {
        let mut last = String::new();
        // A port free a moment ago may be taken before Kinto binds it: then another one.
        for attempt in 0..PORT_ATTEMPTS {
            let dir = tempfile::tempdir().expect("a temporary folder for Kinto");
            let port = free_port();
            let ini = dir.path().join("kinto.ini");
            std::fs::write(&ini, ini_text(port, &postgres.url(), app_lines)).unwrap();
            if attempt == 0 {
                let migrate = kinto("migrate", &ini).status();
                let migrate = migrate.unwrap_or_else(|e| panic!("{}", missing(&e.to_string())));
                assert!(
                    migrate.success(),
                    "kinto migrate failed: {migrate} (TEST_LOG=1 shows why)"
                );
            }
            // Kinto's log goes to a file a test can read ([`Kinto::log`]).
            let log = std::fs::File::create(dir.path().join("kinto.log")).unwrap();
            let child = kinto("start", &ini).stderr(log).spawn().unwrap();
            let mut server = Kinto {
                address: ([127, 0, 0, 1], port).into(),
                child,
                _dir: dir,
            };
            match server.wait_ready() {
                Ok(()) => return server,
                Err(why) => last = why,
            }
        }
        panic!("Kinto did not start on {PORT_ATTEMPTS} free ports: {last}");
    }

    /// A request as alice (Basic Auth), JSON in and out: (status, body, or `Null`).
    pub async fn request(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let (address, method, path) = (self.address, method.to_owned(), format!("/v1{path}"));
        let auth = base64::engine::general_purpose::STANDARD.encode("alice:alicepw");
        let headers = vec![("Authorization".to_owned(), format!("Basic {auth}"))];
        let body = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let (status, text) =
            tokio::task::spawn_blocking(move || exchange(address, &method, &path, &headers, &body))
                .await
                .unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// What Kinto logged so far (its stderr).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("kinto.log")).unwrap_or_default()
    }

    /// Waits for Kinto's heartbeat; an error if Kinto exited first (as when its port was
    /// taken), with its log.
    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("Kinto exited at start: {status}:\n{}", self.log()));
            }
            if let Ok(stream) = std::net::TcpStream::connect(self.address) {
                drop(stream);
                let (status, _) = exchange(self.address, "GET", "/v1/__heartbeat__", &[], &[]);
                if status == 200 {
                    return Ok(());
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("Kinto did not answer its heartbeat within {START_TIMEOUT:?}");
    }
}

impl Drop for Kinto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `kinto SUBCOMMAND --ini INI`, from the tests' Python, with the checkout's plugin
/// importable.
fn kinto(subcommand: &str, ini: &Path) -> Command {
    let program = PathBuf::from(python()).with_file_name("kinto");
    let repo = helpers::repo();
    let path = std::env::join_paths([repo.join("integrations/kinto"), repo.join("tests/support")]);
    let mut command = Command::new(program);
    command
        .args([subcommand, "--ini"])
        .arg(ini)
        .env("PYTHONPATH", path.expect("paths without ':'"))
        .stdin(Stdio::null())
        .stdout(quiet())
        .stderr(quiet());
    command
}

fn missing(why: &str) -> String {
    format!("cannot run kinto ({why}): run `scripts/dev test`, which installs it in .venv")
}

fn ini_text(port: u16, storage: &str, app_lines: &str) -> String {
    format!(
        r#"[server:main]
use = egg:waitress#main
host = 127.0.0.1
port = {port}

[app:main]
use = egg:kinto
kinto.storage_backend = kinto.core.storage.postgresql
kinto.storage_url = {storage}
kinto.permission_backend = kinto.core.permission.postgresql
kinto.permission_url = {storage}
kinto.cache_backend = kinto.core.cache.memory
kinto.userid_hmac_secret = {HMAC_SECRET}
multiauth.policies = basicauth
multiauth.policy.basicauth.use = kinto.core.authentication.BasicAuthAuthenticationPolicy
kinto.bucket_create_principals = system.Authenticated
{app_lines}

[loggers]
keys = root

[handlers]
keys = console

[formatters]
keys = plain

[logger_root]
level = INFO
handlers = console

[handler_console]
class = StreamHandler
args = (sys.stderr,)
level = NOTSET
formatter = plain

[formatter_plain]
format = %(asctime)s %(levelname)s %(name)s %(message)s
"#
    )
}
