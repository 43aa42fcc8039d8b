//! Two tenants' uploaded listeners on events, in one `serve` process with a real SMTP
//! server: each gets only the events of its scope, sends only within its lists, pushes
//! only under its prefix, sees and replays only its own records, and a replayed dead
//! letter runs the version active when it runs.

use crate::helpers::{self, fixture};
use crate::servers::redis::RedisServer;
use crate::servers::smtp::SmtpServer;
use crate::uploads::Serve;
use serde_json::{json, Value};

/// How often a condition is checked, and how many times before the test fails (20 s and
/// more): the checks wait on the condition, the bound only keeps a broken run from hanging.
const CHECK_EVERY: std::time::Duration = std::time::Duration::from_millis(5);
const CHECKS: usize = 4_000;

/// The record-creation event of the fixtures: before commit (sync) or after (async), in
/// `bucket`, by `user` (send-email writes the user id into the body: the sink tells the
/// events apart by it).
fn event(committed: bool, bucket: &str, user: &str) -> Vec<u8> {
    event_bytes(committed, bucket, user)
}

/// See [`event`].
fn event_bytes(committed: bool, bucket: &str, user: &str) -> Vec<u8> {
    let events: Value =
        serde_json::from_slice(&std::fs::read(fixture("record-create.json")).unwrap()).unwrap();
    let class = if committed {
        "AfterResourceChanged"
    } else {
        "ResourceChanged"
    };
    let events = events.as_array().unwrap().iter();
    let mut event = events
        .clone()
        .find(|e| e["event_class"] == class)
        .unwrap()
        .clone();
    event["payload"]["bucket_id"] = bucket.into();
    event["payload"]["uri"] = format!("/buckets/{bucket}/collections/orders/records").into();
    event["payload"]["user_id"] = user.into();
    serde_json::to_vec(&event).unwrap()
}

/// GETs `path` with `token` until `done` holds for the answer (a 200), checking every
/// [`CHECK_EVERY`]; the last answer (the caller's assertions say what was missing).
async fn get_until(serve: &Serve, path: &str, token: &str, done: impl Fn(&Value) -> bool) -> Value {
    let mut answer = Value::Null;
    for _ in 0..CHECKS {
        let (status, body) = serve.call("GET", path, Some(token), Vec::new()).await;
        assert_eq!(status, 200, "{path}: {body}");
        answer = body;
        if done(&answer) {
            break;
        }
        tokio::time::sleep(CHECK_EVERY).await;
    }
    answer
}

/// Uploads guest `name` as `token`'s tenant's component; its digest.
async fn upload(serve: &Serve, tenant: &str, token: &str, name: &str) -> String {
    let bytes = std::fs::read(helpers::guest(name)).unwrap();
    let path = format!("/v1/tenants/{tenant}/components");
    let (status, body) = serve.call("POST", &path, Some(token), bytes).await;
    assert!(status == 201 || status == 200, "{status} {body}");
    body["digest"].as_str().unwrap().to_owned()
}

/// `PUT`s `definition` as `tenant`'s listener `name`; the answer.
async fn put(
    serve: &Serve,
    tenant: &str,
    token: &str,
    name: &str,
    definition: Value,
) -> (u16, Value) {
    let path = format!("/v1/tenants/{tenant}/listeners/{name}");
    let body = serde_json::to_vec(&definition).unwrap();
    serve.call("PUT", &path, Some(token), body).await
}

/// Posts `event` with the operator's token; the status and the listeners that ran.
async fn post(serve: &Serve, event: Vec<u8>) -> (u16, Value) {
    let (status, body) = serve
        .call("POST", "/v1/events", Some(crate::uploads::OPERATOR), event)
        .await;
    (status, body)
}

fn ran(answer: &Value) -> Vec<(String, Option<u64>, String)> {
    let listeners = answer["events"][0]["listeners"].as_array().unwrap();
    let run = listeners.iter().map(|l| {
        (
            l["name"].as_str().unwrap().to_owned(),
            l["version"].as_u64(),
            l["outcome"]["kind"].as_str().unwrap().to_owned(),
        )
    });
    run.collect()
}

#[tokio::test]
async fn two_tenants_get_their_own_events_send_within_their_lists_and_replay_their_own() {
    let dir = tempfile::tempdir().unwrap();
    let smtp = SmtpServer::start();
    let extra = format!(
        "[email.smtp]\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\ntimeout_ms = 5000\n",
        smtp.port()
    );
    let serve = Serve::start_with(dir.path(), &extra);
    let acme_quotas = json!({
        "sync_allowed": true,
        "email": {"allowed_senders": ["acme@example.org"], "allowed_recipients": ["example.org"]},
    });
    let beta_quotas = json!({
        "email": {"allowed_senders": ["beta@example.org"], "allowed_recipients": ["example.org"]},
    });
    for (id, buckets, quotas) in [
        ("acme", json!(["shop"]), acme_quotas),
        ("beta", json!(["blog-*"]), beta_quotas),
    ] {
        let body = json!({"id": id, "buckets": buckets, "quotas": quotas});
        let (status, answer) = serve.operator("POST", "/v1/tenants", body).await;
        assert_eq!(status, 201, "{answer}");
    }
    let acme = serve.token("acme", "deploy").await;
    let beta = serve.token("beta", "deploy").await;
    let acme_mail = upload(&serve, "acme", &acme, "send-email").await;
    let acme_forward = upload(&serve, "acme", &acme, "queue-forward").await;
    let beta_mail = upload(&serve, "beta", &beta, "send-email").await;
    let everyone = json!({"allowed_senders": ["*"], "allowed_recipients": ["*"]});

    // Both name their listener `mail`: acme's sync, beta's async.
    let acme_def = |recipients: &str| {
        json!({
            "component": acme_mail, "mode": "sync",
            "settings": {"from": "acme@example.org", "recipients": recipients},
            "email": everyone,
        })
    };
    let (status, body) = put(&serve, "acme", &acme, "mail", acme_def("ops@example.org")).await;
    assert_eq!(status, 201, "{body}");
    let beta_def = |recipients: &str| {
        json!({
            "component": beta_mail, "mode": "async",
            "settings": {"from": "beta@example.org", "recipients": recipients},
            "email": everyone,
        })
    };
    let sync_refused = put(
        &serve,
        "beta",
        &beta,
        "mail",
        json!({"component": beta_mail, "mode": "sync"}),
    )
    .await;
    assert_eq!(
        sync_refused.0, 400,
        "beta was not granted sync: {}",
        sync_refused.1
    );
    assert!(
        sync_refused.1["message"].as_str().unwrap().contains("sync"),
        "{}",
        sync_refused.1
    );
    // Version 1 mails outside beta's lists: its deliveries end as dead letters.
    let (status, body) = put(
        &serve,
        "beta",
        &beta,
        "mail",
        beta_def("team@elsewhere.net"),
    )
    .await;
    assert_eq!(status, 201, "{body}");

    // acme's sync listener runs on its bucket's events, and only on them.
    let (status, answer) = post(&serve, event(false, "shop", "u-shop-1")).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        ran(&answer),
        [("acme/mail".to_owned(), Some(1), "ok".to_owned())]
    );
    let first = smtp.wait_for("u-shop-1").await;
    assert!(
        first.contains("ops@example.org") && first.contains("acme@example.org"),
        "{first}"
    );
    let (status, answer) = post(&serve, event(false, "blog-eu", "u-blog-1")).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(ran(&answer), [], "blog-eu is not in acme's scope");

    // Mail outside acme's lists is refused by the policy, and nothing is sent.
    let (status, body) = put(&serve, "acme", &acme, "mail", acme_def("ops@elsewhere.net")).await;
    assert_eq!(status, 200, "{body}");
    let (status, answer) = post(&serve, event(false, "shop", "u-shop-2")).await;
    assert_eq!(
        status, 422,
        "a permanent failure refuses the write: {answer}"
    );
    let listener = &answer["events"][0]["listeners"][0];
    assert_eq!(listener["version"], 2, "{answer}");
    assert_eq!(listener["emails"], 0, "{answer}");
    let message = listener["outcome"]["message"].as_str().unwrap();
    assert!(message.contains("not allowed by the policy"), "{answer}");

    // A push outside acme's prefix: refused, nothing pushed.
    let forward = json!({
        "component": acme_forward, "mode": "sync",
        "settings": {"listname": "beta.events"},
        "queue": {"allowed": ["acme.*"]},
        "resources": ["collection"],
    });
    let (status, body) = put(&serve, "acme", &acme, "forward", forward).await;
    assert_eq!(status, 201, "{body}");
    let mut collection: Value = serde_json::from_slice(&event(false, "shop", "u-c")).unwrap();
    collection["payload"]["resource_name"] = "collection".into();
    let (status, answer) = post(&serve, serde_json::to_vec(&collection).unwrap()).await;
    assert_eq!(status, 422, "{answer}");
    let listener = &answer["events"][0]["listeners"][0];
    assert_eq!(listener["name"], "acme/forward", "{answer}");
    assert_eq!(listener["queue_pushes"], 0, "{answer}");
    let message = listener["outcome"]["message"].as_str().unwrap();
    assert!(message.contains("`beta.events` is not in"), "{answer}");

    // Rollback to version 1 (as version 3): acme's mail is sent again.
    let path = "/v1/tenants/acme/listeners/mail/rollback";
    let (status, body) = serve
        .call(
            "POST",
            path,
            Some(&acme),
            serde_json::to_vec(&json!({"version": 1})).unwrap(),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, answer) = post(&serve, event(false, "shop", "u-shop-3")).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        ran(&answer),
        [("acme/mail".to_owned(), Some(3), "ok".to_owned())]
    );
    smtp.wait_for("u-shop-3").await;

    // invoke runs a version on an event and answers its effects, sending nothing (the
    // count of messages at the end shows it); another tenant's token learns nothing.
    let invoke = "/v1/tenants/acme/listeners/mail/invoke?version=2";
    let (status, body) = serve
        .call("POST", invoke, Some(&beta), event(false, "shop", "u-inv"))
        .await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = serve
        .call("POST", invoke, Some(&acme), event(false, "shop", "u-inv"))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["calls"][0]["outcome"]["kind"], "listener-error",
        "{body}"
    );
    let invoke = "/v1/tenants/acme/listeners/mail/invoke?version=1";
    let (status, body) = serve
        .call("POST", invoke, Some(&acme), event(false, "shop", "u-inv"))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["listener"].as_str(), body["version"].as_u64()),
        (Some("acme/mail"), Some(1))
    );
    assert_eq!(body["calls"][0]["outcome"]["kind"], "ok", "{body}");
    let emails = body["calls"][0]["emails"].to_string();
    assert!(
        emails.contains("ops@example.org") && emails.contains("u-inv"),
        "{body}"
    );

    // beta's async listener: only beta's bucket's committed events are enqueued for it.
    let (status, answer) = post(&serve, event(true, "shop", "u-shop-4")).await;
    assert_eq!(status, 200, "nothing async wants shop: {answer}");
    assert_eq!(answer["enqueued"], 0, "{answer}");
    let (status, answer) = post(&serve, event(true, "blog-eu", "u-blog-2")).await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["enqueued"], 1, "{answer}");

    // Version 1 refuses to mail outside the lists: permanent, a dead letter at once.
    let dead_path = "/v1/tenants/beta/listeners/mail/dead-letters";
    let letters = get_until(&serve, dead_path, &beta, |b| b["count"] != 0).await;
    assert_eq!(letters["count"], 1, "{letters}");
    let letter = &letters["dead_letters"][0];
    assert!(
        letter["event"].as_str().unwrap().contains("u-blog-2"),
        "{letters}"
    );

    // acme cannot see, replay or purge beta's records: 404, as for a listener it lacks.
    for (method, path) in [
        ("GET", dead_path.to_owned()),
        ("POST", format!("{dead_path}/replay")),
        ("DELETE", dead_path.to_owned()),
        ("GET", "/v1/tenants/beta/listeners/mail/pending".to_owned()),
    ] {
        let (status, body) = serve.call(method, &path, Some(&acme), Vec::new()).await;
        assert_eq!(status, 404, "{method} {path}: {body}");
    }
    let (status, body) = serve.call("GET", dead_path, None, Vec::new()).await;
    assert_eq!(status, 401, "{body}");

    // The fix is version 2; the replayed dead letter runs it.
    let (status, body) = put(&serve, "beta", &beta, "mail", beta_def("team@example.org")).await;
    assert_eq!(status, 200, "{body}");
    let replay = format!("{dead_path}/replay");
    let (status, body) = serve.call("POST", &replay, Some(&beta), Vec::new()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["replayed"], 1, "{body}");
    let mail = smtp.wait_for("u-blog-2").await;
    assert!(
        mail.contains("team@example.org") && mail.contains("beta@example.org"),
        "{mail}"
    );
    // Each listener's records name it `tenant/name`, and the version that ran.
    // (The log is written in batches: wait for the record.) Through beta's own route.
    let query = "/v1/tenants/beta/invocations?listener=mail&outcome=ok";
    let (status, body) = serve.call("GET", query, Some(&acme), Vec::new()).await;
    assert_eq!(status, 404, "acme reads none of beta's history: {body}");
    let records = get_until(&serve, query, &beta, |b| b[0].is_object()).await;
    assert_eq!(records[0]["listener"], "beta/mail", "{records}");
    assert_eq!(records[0]["version"], 2, "{records}");

    // Every message sent came from a listener that was allowed to send it.
    let messages = smtp.messages();
    assert_eq!(messages.len(), 3, "{messages:#?}");
    assert!(
        messages.iter().all(|m| !m.contains("elsewhere.net")),
        "{messages:#?}"
    );
}

#[tokio::test]
async fn sync_listeners_run_by_tenant_the_first_permanent_failure_stops_the_rest_and_pause_holds_deliveries(
) {
    let dir = tempfile::tempdir().unwrap();
    let smtp = SmtpServer::start();
    let extra = format!(
        "[email.smtp]\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\ntimeout_ms = 5000\n",
        smtp.port()
    );
    let serve = Serve::start_with(dir.path(), &extra);
    let quotas = json!({
        "sync_allowed": true,
        "email": {"allowed_senders": ["*"], "allowed_recipients": ["example.org"]},
    });
    let mut tokens = Vec::new();
    for id in ["acme", "zulu"] {
        let body = json!({"id": id, "buckets": ["shop"], "quotas": quotas});
        let (status, answer) = serve.operator("POST", "/v1/tenants", body).await;
        assert_eq!(status, 201, "{answer}");
        let token = serve.token(id, "deploy").await;
        let digest = upload(&serve, id, &token, "send-email").await;
        tokens.push((token, digest));
    }
    let ((acme, acme_mail), (zulu, zulu_mail)) = (&tokens[0], &tokens[1]);
    let mail = |digest: &str, mode: &str, recipients: &str| {
        json!({
            "component": digest, "mode": mode,
            "settings": {"from": "k@example.org", "recipients": recipients},
            "email": {"allowed_senders": ["*"], "allowed_recipients": ["*"]},
        })
    };
    // acme's check fails permanently (its recipient is outside the tenant's list).
    let check = mail(acme_mail, "sync", "x@elsewhere.net");
    assert_eq!(put(&serve, "acme", acme, "check", check).await.0, 201);
    let notify = mail(zulu_mail, "sync", "zulu@example.org");
    assert_eq!(put(&serve, "zulu", zulu, "notify", notify).await.0, 201);
    let later = mail(zulu_mail, "async", "later@example.org");
    assert_eq!(put(&serve, "zulu", zulu, "later", later).await.0, 201);

    // By tenant id: acme's check runs first, fails, and the write is refused; zulu's
    // listener does not run.
    let (status, answer) = post(&serve, event(false, "shop", "u-1")).await;
    assert_eq!(status, 422, "{answer}");
    let kinds: Vec<_> = ran(&answer).into_iter().map(|(n, _, k)| (n, k)).collect();
    assert_eq!(
        kinds,
        [("acme/check".to_owned(), "listener-error".to_owned())]
    );

    // Paused, acme's check is skipped: zulu's runs.
    let pause = "/v1/tenants/acme/listeners/check/pause";
    assert_eq!(
        serve.call("POST", pause, Some(acme), Vec::new()).await.0,
        200
    );
    let (status, answer) = post(&serve, event(false, "shop", "u-2")).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        ran(&answer),
        [("zulu/notify".to_owned(), Some(1), "ok".to_owned())]
    );
    smtp.wait_for("u-2").await;

    // A paused async listener's delivery waits, pending, until it resumes.
    let pause = "/v1/tenants/zulu/listeners/later/pause";
    assert_eq!(
        serve.call("POST", pause, Some(zulu), Vec::new()).await.0,
        200
    );
    let (status, answer) = post(&serve, event(true, "shop", "u-3")).await;
    assert_eq!(status, 202, "{answer}");
    let pending_path = "/v1/tenants/zulu/listeners/later/pending";
    let held = |b: &Value| b["pending"][0].is_object();
    let pending = get_until(&serve, pending_path, zulu, held).await;
    let waiting = pending["pending"].as_array().unwrap();
    assert_eq!(waiting.len(), 1, "{pending}");
    assert!(
        waiting[0]["event"].as_str().unwrap().contains("u-3"),
        "{pending}"
    );
    let resume = "/v1/tenants/zulu/listeners/later/resume";
    assert_eq!(
        serve.call("POST", resume, Some(zulu), Vec::new()).await.0,
        200
    );
    let sent = smtp.wait_for("u-3").await;
    assert!(sent.contains("later@example.org"), "{sent}");
    let messages = smtp.messages();
    assert_eq!(messages.len(), 2, "nothing of u-1 was sent: {messages:#?}");

    // Deleting a tenant deletes its listeners' pending deliveries: a tenant created again
    // under the same id, with a listener of the same name, finds none of them.
    assert_eq!(
        serve.call("POST", pause, Some(zulu), Vec::new()).await.0,
        200
    );
    assert_eq!(post(&serve, event(true, "shop", "u-4")).await.0, 202);
    let pending = get_until(&serve, pending_path, zulu, held).await;
    assert_eq!(
        pending["pending"].as_array().map(Vec::len),
        Some(1),
        "{pending}"
    );
    let (status, body) = serve
        .operator("DELETE", "/v1/tenants/zulu", Value::Null)
        .await;
    assert_eq!(status, 204, "{body}");
    let body = json!({"id": "zulu", "buckets": ["shop"], "quotas": quotas});
    assert_eq!(serve.operator("POST", "/v1/tenants", body).await.0, 201);
    let zulu = serve.token("zulu", "deploy").await;
    let digest = upload(&serve, "zulu", &zulu, "send-email").await;
    let later = mail(&digest, "async", "later@example.org");
    assert_eq!(put(&serve, "zulu", &zulu, "later", later).await.0, 201);
    let (status, body) = serve
        .call("GET", pending_path, Some(&zulu), Vec::new())
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["pending"],
        json!([]),
        "the old tenant's deliveries are gone"
    );
}

/// Runs `wasm-listeners ARGS` against `serve` with `token`: exit status, stdout, stderr.
fn cli(serve: &Serve, token: &str, args: &[&str]) -> (i32, String, String) {
    let mut command = helpers::bin();
    command
        .args(args)
        .env("WASM_LISTENERS_URL", serve.url())
        .env("WASM_LISTENERS_TOKEN", token);
    let out = command.output().unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (
        out.status.code().unwrap_or(-1),
        text(&out.stdout),
        text(&out.stderr),
    )
}

#[tokio::test]
async fn the_command_line_creates_a_tenant_uploads_a_listener_and_invokes_it() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start_with(dir.path(), "");
    let operator = crate::uploads::OPERATOR;
    let quotas = r#"{"email": {"allowed_senders": ["*"], "allowed_recipients": ["example.org"]}}"#;
    let run = |token: &str, args: &[&str]| cli(&serve, token, args);
    let (code, out, err) = run(
        operator,
        &[
            "tenants", "create", "acme", "--bucket", "shop", "--quotas", quotas,
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = run(operator, &["tenants", "token", "acme", "--scope", "deploy"]);
    assert_eq!(code, 0, "{out}{err}");
    let issued: Value = serde_json::from_str(&out).unwrap();
    let token = issued["token"].as_str().unwrap().to_owned();

    let definition = dir.path().join("mail.json");
    let rules = json!({"email": {"allowed_senders": ["*"], "allowed_recipients": ["*"]}});
    std::fs::write(&definition, rules.to_string()).unwrap();
    let component = helpers::guest("send-email");
    let upload = [
        "listeners",
        "--tenant",
        "acme",
        "upload",
        "mail",
        component.to_str().unwrap(),
        "--definition",
        definition.to_str().unwrap(),
        "--setting",
        "from=k@example.org",
        "--setting",
        "recipients=ops@example.org",
    ];
    let (code, out, err) = run(&token, &upload);
    assert_eq!(code, 0, "{out}{err}");
    let shown: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(shown["active"], 1, "{out}");

    let event = dir.path().join("event.json");
    std::fs::write(&event, event_bytes(false, "shop", "u-cli")).unwrap();
    let invoke = [
        "listeners",
        "--tenant",
        "acme",
        "invoke",
        "mail",
        "--event",
        event.to_str().unwrap(),
    ];
    let (code, out, err) = run(&token, &invoke);
    assert_eq!(code, 0, "{out}{err}");
    let invoked: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(invoked["calls"][0]["outcome"]["kind"], "ok", "{out}");
    assert!(
        invoked["calls"][0]["emails"].to_string().contains("u-cli"),
        "{out}"
    );

    // A refusal exits 1 with the runtime's message; a read-only token may not deploy.
    let (code, out, err) = run(
        &token,
        &["listeners", "--tenant", "acme", "show", "nothere"],
    );
    assert_eq!((code, out.as_str()), (1, ""), "{err}");
    assert!(
        err.contains("404") && err.contains("no listener `nothere`"),
        "{err}"
    );
    let (code, out, err) = run(&token, &["tenants", "list"]);
    assert_eq!(
        code, 1,
        "a tenant's token on an operator's command: {out}{err}"
    );
    assert!(err.contains("403"), "{err}");
}

/// A tenant at its `calls_in_flight` bound: a sync event gets `capacity` (503) at once, an
/// async delivery is put back (`capacity` does not count as an attempt; it is due again a
/// second later) until a slot is free, and another tenant's events run in the
/// meantime. The held call is a send the SMTP sink keeps at `DATA` until the test lets go.
#[tokio::test]
async fn a_tenant_at_its_calls_in_flight_gets_capacity_and_another_tenant_runs() {
    let dir = tempfile::tempdir().unwrap();
    let (inbox, gate) = (dir.path().join("inbox"), dir.path().join("release"));
    std::fs::create_dir(&inbox).unwrap();
    let smtp = SmtpServer::start_into(&inbox, Some(&gate));
    let extra = format!(
        "[email.smtp]\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\ntimeout_ms = 60000\n",
        smtp.port()
    );
    let serve = Serve::start_with(dir.path(), &extra);
    let everyone = json!({"allowed_senders": ["*"], "allowed_recipients": ["*"]});
    let quotas =
        |slots: u32| json!({"sync_allowed": true, "calls_in_flight": slots, "email": everyone});
    for (id, buckets, slots) in [("acme", json!(["shop*"]), 1), ("beta", json!(["blog"]), 4)] {
        let body = json!({"id": id, "buckets": buckets, "quotas": quotas(slots)});
        let (status, answer) = serve.operator("POST", "/v1/tenants", body).await;
        assert_eq!(status, 201, "{answer}");
    }
    let acme = serve.token("acme", "deploy").await;
    let beta = serve.token("beta", "deploy").await;
    let mail = upload(&serve, "acme", &acme, "send-email").await;
    let forward = upload(&serve, "acme", &acme, "queue-forward").await;
    let beta_forward = upload(&serve, "beta", &beta, "queue-forward").await;
    let definitions = [
        (
            "acme",
            &acme,
            "mail",
            json!({
                "component": mail, "mode": "sync", "buckets": ["shop"],
                "settings": {"from": "acme@example.org", "recipients": "ops@example.org"},
                "email": everyone,
            }),
        ),
        (
            "acme",
            &acme,
            "forward",
            json!({
                "component": forward, "mode": "async", "buckets": ["shop-2"],
                "settings": {"listname": "acme.events"}, "queue": {"allowed": ["acme.*"]},
            }),
        ),
        (
            "beta",
            &beta,
            "notify",
            json!({
                "component": beta_forward, "mode": "sync",
                "settings": {"listname": "beta.events"}, "queue": {"allowed": ["beta.*"]},
            }),
        ),
    ];
    for (tenant, token, name, definition) in definitions {
        let (status, body) = put(&serve, tenant, token, name, definition).await;
        assert_eq!(status, 201, "{name}: {body}");
    }

    // acme's one slot: a send held at DATA, while the rest runs beside it.
    let held = post(&serve, event(false, "shop", "u-held"));
    let beside = async {
        let holding = std::path::PathBuf::from(format!("{}.held", gate.display()));
        helpers::until("the sink holds acme's message", || holding.exists()).await;
        // acme's next sync event: capacity, a 503, and the listener did not run. (Were
        // the bound not kept, its send would be held too: the bound keeps that from hanging.)
        let refused = post(&serve, event(false, "shop", "u-refused"));
        let bound = std::time::Duration::from_secs(60);
        let refused = tokio::time::timeout(bound, refused).await;
        let (status, answer) = refused.expect("acme's second call ran: its slot was not kept");
        assert_eq!(status, 503, "{answer}");
        assert_eq!(
            ran(&answer),
            [("acme/mail".to_owned(), Some(1), "capacity".to_owned())]
        );
        // beta has slots of its own.
        let (status, answer) = post(&serve, event(false, "blog", "u-beta")).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(
            ran(&answer),
            [("beta/notify".to_owned(), Some(1), "ok".to_owned())]
        );
        // acme's async delivery finds no slot: it waits as a pending retry.
        let (status, answer) = post(&serve, event(true, "shop-2", "u-later")).await;
        assert_eq!(status, 202, "{answer}");
        let pending_path = "/v1/tenants/acme/listeners/forward/pending";
        let retried = |b: &Value| b["pending"][0]["last"]["outcome"] == "capacity";
        let pending = get_until(&serve, pending_path, &acme, retried).await;
        assert!(retried(&pending), "{pending}");
        // Let go: the held call ends ok, and the retry runs once the slot is free.
        std::fs::write(&gate, b"").unwrap();
    };
    let ((status, answer), ()) = tokio::join!(held, beside);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        ran(&answer),
        [("acme/mail".to_owned(), Some(1), "ok".to_owned())]
    );
    let path = "/v1/tenants/acme/invocations?listener=forward&outcome=ok";
    let records = get_until(&serve, path, &acme, |b| b[0].is_object()).await;
    assert_eq!(records[0]["listener"], "acme/forward", "{records}");
    let sent = smtp.wait_for("u-held").await;
    assert!(sent.contains("ops@example.org"), "{sent}");
    assert_eq!(smtp.messages().len(), 1, "nothing of u-refused was sent");
}

/// A tenant's queue holds at most `quotas.max_queue_length` items, on the embedded store
/// and on Redis: a push onto a full queue answers `unavailable` (a sync call: 503, its
/// write refused for now) and pushes nothing; another queue has its own room.
async fn a_full_queue_refuses_the_push(redis: Option<&RedisServer>) {
    let dir = tempfile::tempdir().unwrap();
    let extra = redis.map_or_else(String::new, |r| {
        format!("[queue]\nredis_url = \"{}\"\nallowed = [\"*\"]\n", r.url())
    });
    let serve = Serve::start_with(dir.path(), &extra);
    let quotas = json!({"sync_allowed": true, "max_queue_length": 2});
    let body = json!({"id": "acme", "buckets": ["*"], "quotas": quotas});
    assert_eq!(serve.operator("POST", "/v1/tenants", body).await.0, 201);
    let acme = serve.token("acme", "deploy").await;
    let forward = upload(&serve, "acme", &acme, "queue-forward").await;
    for (name, bucket) in [("events", "shop"), ("other", "blog")] {
        let definition = json!({
            "component": forward, "mode": "sync", "buckets": [bucket],
            "settings": {"listname": format!("acme.{name}")}, "queue": {"allowed": ["acme.*"]},
        });
        assert_eq!(put(&serve, "acme", &acme, name, definition).await.0, 201);
    }
    for user in ["u-1", "u-2"] {
        let (status, answer) = post(&serve, event(false, "shop", user)).await;
        assert_eq!(status, 200, "{answer}");
    }
    let (status, answer) = post(&serve, event(false, "shop", "u-3")).await;
    assert_eq!(status, 503, "{answer}");
    let listener = &answer["events"][0]["listeners"][0];
    assert_eq!(listener["queue_pushes"], 0, "{answer}");
    let message = listener["outcome"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("`acme.events` holds 2 items"), "{answer}");
    let (status, answer) = post(&serve, event(false, "blog", "u-4")).await;
    assert_eq!(status, 200, "another queue has its own room: {answer}");
    if let Some(redis) = redis {
        let mut conn = redis.connection().await;
        let held: usize = redis::AsyncCommands::llen(&mut conn, "acme.events")
            .await
            .unwrap();
        assert_eq!(held, 2);
    }
}

#[tokio::test]
async fn a_full_queue_refuses_the_push_on_the_embedded_store() {
    a_full_queue_refuses_the_push(None).await;
}

#[tokio::test]
async fn a_full_queue_refuses_the_push_on_redis() {
    a_full_queue_refuses_the_push(Some(&RedisServer::start())).await;
}
