//! `wasm-listeners tenants ...` and `wasm-listeners listeners ...`: the tenant API of a
//! running `serve`, from the command line. Each subcommand is one or two requests; the
//! answer is printed as JSON. The URL and the token come from `--url` and `--token`, or
//! from `WASM_LISTENERS_URL` and `WASM_LISTENERS_TOKEN` (so the token stays out of the
//! shell's history).
//!
//! Exit status: 0 when the runtime accepted, 1 when it refused (its message on standard
//! error), 2 when the request could not be made (a bad option, an unreadable file, no
//! runtime at the URL).

use super::parse_setting;
use clap::Subcommand;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Where the runtime is and who asks.
#[derive(Debug, clap::Args)]
pub(crate) struct Remote {
    /// The runtime's HTTP API.
    #[arg(
        long,
        env = "WASM_LISTENERS_URL",
        default_value = "http://127.0.0.1:8888",
        global = true
    )]
    url: String,
    /// A bearer token: the operator's (`[server] operator_token`) or a tenant's API token.
    #[arg(
        long,
        env = "WASM_LISTENERS_TOKEN",
        hide_env_values = true,
        global = true
    )]
    token: Option<String>,
}

/// `wasm-listeners tenants`.
#[derive(Debug, clap::Args)]
pub(crate) struct TenantsArgs {
    #[command(flatten)]
    remote: Remote,
    #[command(subcommand)]
    command: TenantsCommand,
}

#[derive(Debug, Subcommand)]
enum TenantsCommand {
    /// Creates a tenant (operator).
    Create {
        /// Its id: 1-40 of a-z, 0-9 and `-`, starting with a letter.
        id: String,
        #[command(flatten)]
        fields: TenantFields,
    },
    /// Lists the tenants (operator).
    List,
    /// Shows one.
    Show {
        /// The tenant.
        id: String,
    },
    /// Changes the fields given (operator).
    Update {
        /// The tenant.
        id: String,
        #[command(flatten)]
        fields: TenantFields,
        /// Disables (`true`) or enables (`false`) it.
        #[arg(long)]
        disabled: Option<bool>,
    },
    /// Deletes it, its tokens, listeners, pending deliveries and dead letters (operator).
    Delete {
        /// The tenant.
        id: String,
    },
    /// Issues an API token, shown once (operator).
    Token {
        /// The tenant.
        id: String,
        /// `deploy` or `read-only`.
        #[arg(long, default_value = "deploy")]
        scope: String,
        /// What it is for.
        #[arg(long)]
        label: Option<String>,
    },
    /// Revokes a token, at once (operator).
    Revoke {
        /// The tenant.
        id: String,
        /// The token's prefix (its first 12 hex digits after `wlt_`).
        prefix: String,
    },
}

/// A tenant's fields, as `create` and `update` take them (absent: left as they are, or
/// their defaults on creation).
#[derive(Debug, clap::Args)]
struct TenantFields {
    /// Who it is, in words.
    #[arg(long)]
    name: Option<String>,
    /// A Kinto bucket (or `*` pattern) its listeners get events of; repeat for more (on
    /// `update`, they replace the old ones).
    #[arg(long = "bucket")]
    buckets: Vec<String>,
    /// Its quotas, whole, as JSON (`{"sync_allowed": true, ...}`; absent fields: defaults).
    #[arg(long)]
    quotas: Option<String>,
}

impl TenantFields {
    /// Sets the fields given on `body`.
    fn onto(self, mut body: Value) -> Result<Value, RemoteError> {
        if let Some(name) = self.name {
            body["name"] = name.into();
        }
        if !self.buckets.is_empty() {
            body["buckets"] = self.buckets.into();
        }
        if let Some(quotas) = self.quotas {
            body["quotas"] = json_arg("--quotas", &quotas)?;
        }
        Ok(body)
    }
}

/// `wasm-listeners listeners`.
#[derive(Debug, clap::Args)]
pub(crate) struct ListenersArgs {
    #[command(flatten)]
    remote: Remote,
    /// The tenant whose listeners these are.
    #[arg(long, env = "WASM_LISTENERS_TENANT", global = true)]
    tenant: Option<String>,
    #[command(subcommand)]
    command: ListenersCommand,
}

#[derive(Debug, Subcommand)]
enum ListenersCommand {
    /// Uploads a component and makes it the next version of listener NAME (created if new).
    Upload {
        /// The listener.
        name: String,
        /// The component file (`.wasm`).
        component: PathBuf,
        /// The rest of the definition, as a JSON file (mode, actions, resources, buckets,
        /// collections, settings, secret_settings, limits, email, queue).
        #[arg(long)]
        definition: Option<PathBuf>,
        /// `sync` or `async` (over the definition's).
        #[arg(long)]
        mode: Option<String>,
        /// A setting `key=value` (over the definition's); repeat for more.
        #[arg(long = "setting", value_parser = parse_setting)]
        settings: Vec<(String, String)>,
    },
    /// Lists the tenant's listeners.
    List,
    /// Shows one, with its active version.
    Show {
        /// The listener.
        name: String,
    },
    /// Its versions, newest first.
    Versions {
        /// The listener.
        name: String,
    },
    /// Activates version VERSION's definition again, as a new version.
    Rollback {
        /// The listener.
        name: String,
        /// The version to go back to.
        version: u32,
    },
    /// Stops its deliveries (async ones wait), keeping everything.
    Pause {
        /// The listener.
        name: String,
    },
    /// Restarts its deliveries.
    Resume {
        /// The listener.
        name: String,
    },
    /// Deletes it, its versions, pending deliveries and dead letters.
    Delete {
        /// The listener.
        name: String,
    },
    /// Runs a version on an event: what it would send and push, nothing sent.
    Invoke {
        /// The listener.
        name: String,
        /// A Kinto event (JSON file).
        #[arg(long)]
        event: PathBuf,
        /// The version (default: the active one).
        #[arg(long)]
        version: Option<u32>,
    },
}

/// Why a request could not be made or was refused.
#[derive(Debug, thiserror::Error)]
enum RemoteError {
    #[error("cannot reach {url}: {source}")]
    Http { url: String, source: ureq::Error },
    #[error("{status}: {message}")]
    Refused { status: u16, message: String },
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{what} is not JSON: {source}")]
    Json {
        what: String,
        source: serde_json::Error,
    },
    #[error("name the tenant: --tenant, or WASM_LISTENERS_TENANT")]
    NoTenant,
}

/// One request's parts.
struct Request<'a> {
    method: &'a str,
    path: String,
    body: Option<Body>,
}

enum Body {
    Json(Value),
    Bytes(Vec<u8>),
}

impl Remote {
    /// Sends `request`; the answer's JSON when the runtime accepted it.
    fn send(&self, request: Request<'_>) -> Result<Value, RemoteError> {
        let url = format!("{}{}", self.url.trim_end_matches('/'), request.path);
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let auth = self.token.as_ref().map(|t| format!("Bearer {t}"));
        let failed = |source| RemoteError::Http {
            url: url.clone(),
            source,
        };
        let response = match (request.method, request.body) {
            ("GET" | "DELETE", None) => {
                let mut r = match request.method {
                    "GET" => agent.get(&url),
                    _ => agent.delete(&url),
                };
                if let Some(auth) = &auth {
                    r = r.header("Authorization", auth);
                }
                r.call()
            }
            (method, body) => {
                let mut r = match method {
                    "PUT" => agent.put(&url),
                    "PATCH" => agent.patch(&url),
                    _ => agent.post(&url),
                };
                if let Some(auth) = &auth {
                    r = r.header("Authorization", auth);
                }
                match body {
                    Some(Body::Json(value)) => r.send_json(value),
                    Some(Body::Bytes(bytes)) => r.send(&bytes[..]),
                    None => r.send_empty(),
                }
            }
        };
        let mut response = response.map_err(failed)?;
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().map_err(failed)?;
        let answer: Value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        if (200..300).contains(&status) {
            return Ok(answer);
        }
        let message = answer["message"]
            .as_str()
            .map_or_else(|| answer.to_string(), str::to_owned);
        Err(RemoteError::Refused { status, message })
    }
}

fn get(path: String) -> Request<'static> {
    Request {
        method: "GET",
        path,
        body: None,
    }
}

fn with(method: &str, path: String, body: Value) -> Request<'_> {
    Request {
        method,
        path,
        body: Some(Body::Json(body)),
    }
}

fn json_arg(what: &str, text: &str) -> Result<Value, RemoteError> {
    serde_json::from_str(text).map_err(|source| RemoteError::Json {
        what: what.to_owned(),
        source,
    })
}

fn read(path: &Path) -> Result<Vec<u8>, RemoteError> {
    std::fs::read(path).map_err(|source| RemoteError::Read {
        path: path.to_owned(),
        source,
    })
}

/// Runs `wasm-listeners tenants ...`.
pub(crate) fn tenants(args: TenantsArgs) -> ExitCode {
    let remote = &args.remote;
    let result = (|| {
        let request = match args.command {
            TenantsCommand::Create { id, fields } => {
                let body = fields.onto(json!({ "id": id }))?;
                with("POST", "/v1/tenants".into(), body)
            }
            TenantsCommand::List => get("/v1/tenants".into()),
            TenantsCommand::Show { id } => get(format!("/v1/tenants/{id}")),
            TenantsCommand::Update {
                id,
                fields,
                disabled,
            } => {
                let mut body = fields.onto(json!({}))?;
                if let Some(disabled) = disabled {
                    body["disabled"] = disabled.into();
                }
                with("PATCH", format!("/v1/tenants/{id}"), body)
            }
            TenantsCommand::Delete { id } => Request {
                method: "DELETE",
                path: format!("/v1/tenants/{id}"),
                body: None,
            },
            TenantsCommand::Token { id, scope, label } => {
                let mut body = json!({ "scope": scope });
                if let Some(label) = label {
                    body["label"] = label.into();
                }
                with("POST", format!("/v1/tenants/{id}/tokens"), body)
            }
            TenantsCommand::Revoke { id, prefix } => Request {
                method: "DELETE",
                path: format!("/v1/tenants/{id}/tokens/{prefix}"),
                body: None,
            },
        };
        remote.send(request)
    })();
    answer(result)
}

/// Runs `wasm-listeners listeners ...`.
pub(crate) fn listeners(args: ListenersArgs) -> ExitCode {
    let remote = &args.remote;
    let result = (|| {
        let tenant = args.tenant.ok_or(RemoteError::NoTenant)?;
        let base = format!("/v1/tenants/{tenant}/listeners");
        let post = |path: String| Request {
            method: "POST",
            path,
            body: None,
        };
        let request = match args.command {
            ListenersCommand::Upload {
                name,
                component,
                definition,
                mode,
                settings,
            } => {
                let mut body = match definition {
                    Some(path) => {
                        let text = read(&path)?;
                        serde_json::from_slice(&text).map_err(|source| RemoteError::Json {
                            what: path.display().to_string(),
                            source,
                        })?
                    }
                    None => json!({}),
                };
                let bytes = read(&component)?;
                let upload = Request {
                    method: "POST",
                    path: format!("/v1/tenants/{tenant}/components"),
                    body: Some(Body::Bytes(bytes)),
                };
                let uploaded = remote.send(upload)?;
                body["component"] = uploaded["digest"].clone();
                if let Some(mode) = mode {
                    body["mode"] = mode.into();
                }
                for (key, value) in settings {
                    body["settings"][key] = value.into();
                }
                with("PUT", format!("{base}/{name}"), body)
            }
            ListenersCommand::List => get(base),
            ListenersCommand::Show { name } => get(format!("{base}/{name}")),
            ListenersCommand::Versions { name } => get(format!("{base}/{name}/versions")),
            ListenersCommand::Rollback { name, version } => with(
                "POST",
                format!("{base}/{name}/rollback"),
                json!({ "version": version }),
            ),
            ListenersCommand::Pause { name } => post(format!("{base}/{name}/pause")),
            ListenersCommand::Resume { name } => post(format!("{base}/{name}/resume")),
            ListenersCommand::Delete { name } => Request {
                method: "DELETE",
                path: format!("{base}/{name}"),
                body: None,
            },
            ListenersCommand::Invoke {
                name,
                event,
                version,
            } => {
                let query = version.map_or_else(String::new, |v| format!("?version={v}"));
                Request {
                    method: "POST",
                    path: format!("{base}/{name}/invoke{query}"),
                    body: Some(Body::Bytes(read(&event)?)),
                }
            }
        };
        remote.send(request)
    })();
    answer(result)
}

/// Prints the answer (exit 0), or why there is none: 1 for a refusal, 2 otherwise.
fn answer(result: Result<Value, RemoteError>) -> ExitCode {
    match result {
        Ok(Value::Null) => ExitCode::SUCCESS,
        Ok(value) => {
            let text = serde_json::to_string_pretty(&value).unwrap_or_else(|_| value.to_string());
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(e @ RemoteError::Refused { .. }) => {
            eprintln!("refused: {e}");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
