//! Uploading components over the HTTP API, to a `serve` process (whose binary is also the
//! compile child): content-addressed, checked and compiled apart before the answer, each
//! refusal a 4xx naming the problem; tokens see their own tenant only.

use crate::helpers;
use crate::http::exchange;
use crate::process::Process;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::Path;

pub(crate) const OPERATOR: &str = "operator-secret";

/// A `serve` process with an operator token, and calls of its API.
pub(crate) struct Serve {
    address: SocketAddr,
    _process: Process,
}

impl Serve {
    fn start(dir: &Path) -> Serve {
        Serve::start_with(dir, "")
    }

    /// `serve` with `extra` appended to its configuration.
    pub(crate) fn start_with(dir: &Path, extra: &str) -> Serve {
        let config = dir.join("wasm-listeners.toml");
        let text = format!(
            "[server]\nlisten = \"127.0.0.1:0\"\noperator_token = \"{OPERATOR}\"\ndata_dir = {:?}\n{extra}",
            dir.join("data").display().to_string()
        );
        std::fs::write(&config, text).unwrap();
        let mut command = helpers::bin();
        command.args(["serve", "--config"]).arg(&config);
        let process = Process::spawn("serve", command);
        let address = process.announced("serving on");
        Serve {
            address,
            _process: process,
        }
    }

    /// Its API's URL.
    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// `method path` with `token` as the bearer and `body`; the answer as JSON.
    pub(crate) async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Vec<u8>,
    ) -> (u16, Value) {
        let mut headers = Vec::new();
        if let Some(token) = token {
            headers.push(("Authorization".to_owned(), format!("Bearer {token}")));
        }
        let (address, method, path) = (self.address, method.to_owned(), path.to_owned());
        let (status, text) =
            tokio::task::spawn_blocking(move || exchange(address, &method, &path, &headers, &body))
                .await
                .unwrap();
        let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, json)
    }

    pub(crate) async fn operator(&self, method: &str, path: &str, body: Value) -> (u16, Value) {
        let bytes = serde_json::to_vec(&body).unwrap();
        self.call(method, path, Some(OPERATOR), bytes).await
    }

    /// A new token of `tenant` with `scope`.
    pub(crate) async fn token(&self, tenant: &str, scope: &str) -> String {
        let path = format!("/v1/tenants/{tenant}/tokens");
        let (status, issued) = self.operator("POST", &path, json!({"scope": scope})).await;
        assert_eq!(status, 201, "{issued}");
        issued["token"].as_str().unwrap().to_owned()
    }
}

fn message(answer: &Value) -> String {
    answer["message"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn a_tenant_uploads_components_checked_and_compiled_and_sees_only_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path());
    let quotas = json!({"max_component_bytes": 1_000_000, "max_stored_bytes": 1_200_000});
    for id in ["acme", "beta"] {
        let body = json!({"id": id, "quotas": quotas});
        assert_eq!(serve.operator("POST", "/v1/tenants", body).await.0, 201);
    }
    let (deploy, reader) = (
        serve.token("acme", "deploy").await,
        serve.token("acme", "read-only").await,
    );
    let other = serve.token("beta", "deploy").await;
    let path = "/v1/tenants/acme/components";
    let send_email = std::fs::read(helpers::guest("send-email")).unwrap();

    let (status, body) = serve.call("POST", path, None, send_email.clone()).await;
    assert_eq!(status, 401, "{body}");
    let (status, body) = serve
        .call("POST", path, Some(&other), send_email.clone())
        .await;
    assert_eq!(status, 404, "another tenant's token learns nothing: {body}");
    let (status, body) = serve
        .call("POST", path, Some(&reader), send_email.clone())
        .await;
    assert_eq!(status, 403, "{body}");
    assert!(message(&body).contains("read-only"), "{body}");

    let (status, uploaded) = serve
        .call("POST", path, Some(&deploy), send_email.clone())
        .await;
    assert_eq!(status, 201, "{uploaded}");
    let digest = wasm_listeners_digest(&send_email);
    assert_eq!(uploaded["digest"], digest.as_str());
    assert_eq!(uploaded["size"], send_email.len());
    assert_eq!(uploaded["contract"], "0.1.0");
    let imports = uploaded["imports"].as_array().unwrap();
    assert!(
        imports
            .iter()
            .any(|i| i.as_str().unwrap().contains("/email@0.1.0")),
        "{uploaded}"
    );
    assert!(dir
        .path()
        .join(format!("data/components/{digest}.wasm"))
        .exists());
    let (status, again) = serve
        .call("POST", path, Some(&deploy), send_email.clone())
        .await;
    assert_eq!(
        (status, &again["digest"]),
        (200, &uploaded["digest"]),
        "the same bytes, the same component"
    );

    let forward = std::fs::read(helpers::guest("queue-forward")).unwrap();
    let validate = format!("{path}?validate_only=true");
    let (status, checked) = serve
        .call("POST", &validate, Some(&deploy), forward.clone())
        .await;
    assert_eq!(status, 200, "{checked}");
    assert_eq!(checked["contract"], "0.1.0");
    let (status, listed) = serve.call("GET", path, Some(&reader), Vec::new()).await;
    assert_eq!(status, 200, "{listed}");
    let digests: Vec<&Value> = listed["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["digest"])
        .collect();
    assert_eq!(
        digests,
        [&uploaded["digest"]],
        "validate_only keeps nothing"
    );
    let (status, beta) = serve
        .call(
            "GET",
            "/v1/tenants/beta/components",
            Some(&other),
            Vec::new(),
        )
        .await;
    assert_eq!(
        (status, beta["components"].as_array().unwrap().len()),
        (200, 0),
        "{beta}"
    );
    let (status, _) = serve.call("GET", path, Some(&other), Vec::new()).await;
    assert_eq!(status, 404);

    // Each refusal names its problem; nothing is kept.
    let refusals: [(&str, Vec<u8>, u16, &str); 5] = [
        (
            "garbage",
            b"not a component".to_vec(),
            400,
            "not a WebAssembly file",
        ),
        (
            "a core module",
            wat::parse_str("(module)").unwrap(),
            400,
            "core WebAssembly module",
        ),
        (
            "another world",
            crate::check::component("wasi:cli/run@0.2.0", &["run"], &[]),
            400,
            "does not export",
        ),
        (
            "a forbidden import",
            crate::check::component(
                crate::check::HANDLER,
                crate::check::FUNCS,
                &["wasi:http/outgoing-handler@0.2.0"],
            ),
            400,
            "wasi:http/outgoing-handler",
        ),
        (
            "over the quota",
            vec![0u8; 1_000_001],
            413,
            "max_component_bytes",
        ),
    ];
    for (what, bytes, expected, says) in refusals {
        let (status, body) = serve.call("POST", path, Some(&deploy), bytes).await;
        assert_eq!(status, expected, "{what}: {body}");
        assert!(message(&body).contains(says), "{what}: {body}");
    }
    // The stored total: send-email is kept; queue-forward would pass 1.2 MB only if
    // big, so lower the quota below both.
    let lower = json!({"quotas": {"max_component_bytes": 1_000_000, "max_stored_bytes": send_email.len() + 10}});
    assert_eq!(
        serve.operator("PATCH", "/v1/tenants/acme", lower).await.0,
        200
    );
    let (status, body) = serve.call("POST", path, Some(&deploy), forward).await;
    assert_eq!(status, 409, "{body}");
    assert!(message(&body).contains("max_stored_bytes"), "{body}");
    let (_, listed) = serve.call("GET", path, Some(&deploy), Vec::new()).await;
    assert_eq!(
        listed["components"].as_array().unwrap().len(),
        1,
        "{listed}"
    );
}

/// SHA-256 in hex, as the runtime names components.
fn wasm_listeners_digest(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `PUT` with an `If-Match` header.
async fn put_if_match(
    serve: &Serve,
    path: &str,
    token: &str,
    revision: u64,
    body: &Value,
) -> (u16, Value) {
    let headers = vec![
        ("Authorization".to_owned(), format!("Bearer {token}")),
        ("If-Match".to_owned(), format!("\"{revision}\"")),
    ];
    let (address, path, body) = (
        serve.address,
        path.to_owned(),
        serde_json::to_vec(body).unwrap(),
    );
    let (status, text) =
        tokio::task::spawn_blocking(move || exchange(address, "PUT", &path, &headers, &body))
            .await
            .unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[tokio::test]
async fn listeners_are_versioned_checked_rolled_back_paused_and_kept_to_their_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path());
    let quotas = json!({"max_listeners": 2, "versions_kept": 2, "limits": {"fuel": 50_000_000}});
    let body = json!({"id": "acme", "quotas": quotas});
    assert_eq!(serve.operator("POST", "/v1/tenants", body).await.0, 201);
    assert_eq!(
        serve
            .operator("POST", "/v1/tenants", json!({"id": "beta"}))
            .await
            .0,
        201
    );
    let (deploy, reader) = (
        serve.token("acme", "deploy").await,
        serve.token("acme", "read-only").await,
    );
    let other = serve.token("beta", "deploy").await;
    let send_email = std::fs::read(helpers::guest("send-email")).unwrap();
    let (status, uploaded) = serve
        .call(
            "POST",
            "/v1/tenants/acme/components",
            Some(&deploy),
            send_email,
        )
        .await;
    assert_eq!(status, 201, "{uploaded}");
    let digest = uploaded["digest"].as_str().unwrap().to_owned();
    let definition = |recipients: &str| {
        json!({
            "component": digest,
            "settings": {"from": "kinto@example.com", "recipients": recipients},
            "secret_settings": ["recipients"],
        })
    };
    let put = |name: &str, token: &str, body: Value| {
        let (serve, path, token) = (
            &serve,
            format!("/v1/tenants/acme/listeners/{name}"),
            token.to_owned(),
        );
        async move {
            serve
                .call(
                    "PUT",
                    &path,
                    Some(&token),
                    serde_json::to_vec(&body).unwrap(),
                )
                .await
        }
    };
    let path = "/v1/tenants/acme/listeners/mail";

    let mut own_queue = definition("ops@example.com");
    own_queue["queue"] = json!({"allowed": ["acme.events", "acme.audit.*"]});
    let (status, created) = put("mail", &deploy, own_queue).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(
        (created["active"].as_u64(), created["revision"].as_u64()),
        (Some(1), Some(1))
    );
    let shown = &created["active_version"]["definition"];
    assert_eq!(shown["settings"]["recipients"], "<redacted>", "{created}");
    assert_eq!(shown["settings"]["from"], "kinto@example.com");
    assert_eq!(shown["mode"], "async");
    assert_eq!(
        shown["limits"]["fuel"], 50_000_000,
        "the default, capped by the ceiling"
    );
    assert!(
        !created.to_string().contains("ops@example.com"),
        "a secret is never answered: {created}"
    );

    // Each refusal names its problem, before any version is made.
    let mut no_recipients = definition("x");
    no_recipients["settings"]
        .as_object_mut()
        .unwrap()
        .remove("recipients");
    let mut sync = definition("ops@example.com");
    sync["mode"] = json!("sync");
    let mut greedy = definition("ops@example.com");
    greedy["limits"] = json!({"fuel": 60_000_000});
    let mut unknown = definition("ops@example.com");
    unknown["component"] = json!("0".repeat(64));
    let mut everywhere = definition("ops@example.com");
    everywhere["queue"] = json!({"allowed": ["acme.events", "*"]});
    let mut others = definition("ops@example.com");
    others["queue"] = json!({"allowed": ["beta.events"]});
    for (what, body, says) in [
        (
            "settings the component refuses",
            no_recipients,
            "validate-settings",
        ),
        ("sync without the grant", sync, "sync"),
        ("limits over the ceiling", greedy, "limits.fuel = 60000000"),
        ("a component not uploaded", unknown, "upload it first"),
        (
            "any queue",
            everywhere,
            "`*` is outside tenant `acme`'s queues: name queues starting with `acme.`",
        ),
        ("another tenant's queue", others, "`beta.events` is outside"),
    ] {
        let (status, answer) = put("mail", &deploy, body).await;
        assert_eq!(status, 400, "{what}: {answer}");
        assert!(message(&answer).contains(says), "{what}: {answer}");
    }
    let (status, answer) = put("Mail!", &deploy, definition("x@example.com")).await;
    assert_eq!(status, 400, "{answer}");

    let (status, second) =
        put_if_match(&serve, path, &deploy, 1, &definition("dev@example.com")).await;
    assert_eq!(
        (status, second["active"].as_u64()),
        (200, Some(2)),
        "{second}"
    );
    let (status, stale) =
        put_if_match(&serve, path, &deploy, 1, &definition("x@example.com")).await;
    assert_eq!(status, 412, "{stale}");
    assert!(message(&stale).contains("revision 2, not 1"), "{stale}");

    let rollback = serde_json::to_vec(&json!({"version": 1})).unwrap();
    let (status, rolled) = serve
        .call(
            "POST",
            &format!("{path}/rollback"),
            Some(&deploy),
            rollback.clone(),
        )
        .await;
    assert_eq!(status, 200, "{rolled}");
    assert_eq!(
        (
            rolled["active"].as_u64(),
            rolled["active_version"]["rollback_of"].as_u64()
        ),
        (Some(3), Some(1))
    );
    let (_, versions) = serve
        .call(
            "GET",
            &format!("{path}/versions"),
            Some(&reader),
            Vec::new(),
        )
        .await;
    let numbers: Vec<u64> = versions["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["number"].as_u64().unwrap())
        .collect();
    assert_eq!(numbers, [3, 2], "two versions kept, the oldest dropped");
    let (status, gone) = serve
        .call("POST", &format!("{path}/rollback"), Some(&deploy), rollback)
        .await;
    assert_eq!(status, 404, "version 1 is no longer kept: {gone}");
    assert!(message(&gone).contains("kept: [2, 3]"), "{gone}");

    let (status, paused) = serve
        .call("POST", &format!("{path}/pause"), Some(&deploy), Vec::new())
        .await;
    assert_eq!((status, &paused["paused"]), (200, &json!(true)), "{paused}");
    let (_, resumed) = serve
        .call("POST", &format!("{path}/resume"), Some(&deploy), Vec::new())
        .await;
    assert_eq!(resumed["paused"], false);

    // Read-only reads, never writes; another tenant sees nothing.
    assert_eq!(
        serve.call("GET", path, Some(&reader), Vec::new()).await.0,
        200
    );
    assert_eq!(
        put("mail", &reader, definition("x@example.com")).await.0,
        403
    );
    assert_eq!(
        serve
            .call("POST", &format!("{path}/pause"), Some(&reader), Vec::new())
            .await
            .0,
        403
    );
    for (method, route) in [
        ("GET", path.to_owned()),
        ("POST", format!("{path}/pause")),
        ("DELETE", path.to_owned()),
    ] {
        let (status, body) = serve.call(method, &route, Some(&other), Vec::new()).await;
        assert_eq!(status, 404, "{method} {route}: {body}");
    }
    assert_eq!(
        put("mail", &other, definition("x@example.com")).await.0,
        404
    );

    // The quota of listeners; deletion frees a place.
    assert_eq!(
        put("second", &deploy, definition("a@example.com")).await.0,
        201
    );
    let (status, over) = put("third", &deploy, definition("a@example.com")).await;
    assert_eq!(status, 400, "{over}");
    assert!(message(&over).contains("max_listeners"), "{over}");
    assert_eq!(
        serve
            .call("DELETE", path, Some(&deploy), Vec::new())
            .await
            .0,
        204
    );
    assert_eq!(
        serve.call("GET", path, Some(&deploy), Vec::new()).await.0,
        404
    );
    assert_eq!(
        put("third", &deploy, definition("a@example.com")).await.0,
        201
    );
    let (_, listed) = serve
        .call(
            "GET",
            "/v1/tenants/acme/listeners",
            Some(&reader),
            Vec::new(),
        )
        .await;
    let names: Vec<&str> = listed["listeners"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["second", "third"]);

    // Deleting the tenant deletes its listeners, versions and component records: a tenant
    // made again with the same id starts empty.
    assert_eq!(
        serve
            .operator("DELETE", "/v1/tenants/acme", json!({}))
            .await
            .0,
        204
    );
    assert_eq!(
        serve
            .operator("POST", "/v1/tenants", json!({"id": "acme"}))
            .await
            .0,
        201
    );
    let (_, listed) = serve
        .call(
            "GET",
            "/v1/tenants/acme/listeners",
            Some(OPERATOR),
            Vec::new(),
        )
        .await;
    assert_eq!(listed["listeners"], json!([]), "{listed}");
    let (_, kept) = serve
        .call(
            "GET",
            "/v1/tenants/acme/components",
            Some(OPERATOR),
            Vec::new(),
        )
        .await;
    assert_eq!(kept["components"], json!([]), "{kept}");

    // The audit log kept every change, newest first, with who made it, and no secret.
    let (status, audit) = serve
        .call(
            "GET",
            "/v1/tenants/acme/audit?limit=100",
            Some(OPERATOR),
            Vec::new(),
        )
        .await;
    assert_eq!(status, 200, "{audit}");
    let entries = audit["entries"].as_array().unwrap();
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "tenant.create",
            "tenant.delete",
            "listener.put",
            "listener.delete",
            "listener.put",
            "listener.resume",
            "listener.pause",
            "listener.rollback",
            "listener.put",
            "listener.put",
            "component.upload",
            "token.issue",
            "token.issue",
            "tenant.create",
        ],
        "{audit}"
    );
    let deploy_prefix = &deploy[4..16];
    let put = &entries[entries.len() - 5];
    assert_eq!(
        (put["who"].as_str(), put["target"].as_str()),
        (
            Some(format!("token {deploy_prefix}").as_str()),
            Some("mail")
        )
    );
    assert_eq!(put["detail"]["version"], 1);
    assert_eq!(entries[0]["who"], "operator");
    assert!(
        !audit.to_string().contains("ops@example.com"),
        "no secret in the log: {audit}"
    );
    let (status, _) = serve
        .call("GET", "/v1/tenants/acme/audit", Some(&other), Vec::new())
        .await;
    assert_eq!(status, 404, "another tenant reads nothing");
}
