//! Tenants and their API tokens over the HTTP API: the operator manages them; a tenant's
//! token is who it says, until revoked, expired, or its tenant is disabled or deleted; a
//! tenant's token never opens an operator's route.

use crate::http::Server;
use serde_json::{json, Value};

const OPERATOR: &str = "operator-secret";

async fn serve(dir: &std::path::Path) -> Server {
    let config = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\noperator_token = \"{OPERATOR}\"\ndata_dir = {:?}\n",
        dir.join("data").display().to_string()
    );
    Server::start(dir, &config).await.unwrap()
}

/// `method path` with `token` as the bearer (none: no header) and a JSON body.
async fn call(
    server: &Server,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let bearer = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![("Content-Type", "application/json")];
    if let Some(bearer) = &bearer {
        headers.push(("Authorization", bearer.as_str()));
    }
    let body = body.map_or_else(Vec::new, |b| serde_json::to_vec(&b).unwrap());
    let (status, text) = server.request(method, path, &headers, body).await;
    let json = match text.is_empty() {
        true => Value::Null,
        false => serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}")),
    };
    (status, json)
}

async fn operator(server: &Server, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    call(server, method, path, Some(OPERATOR), body).await
}

#[tokio::test]
async fn the_operator_manages_tenants_and_revisions_refuse_lost_updates() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path()).await;
    let (status, body) = call(&server, "GET", "/v1/tenants", None, None).await;
    assert_eq!(status, 401, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("Bearer"),
        "{body}"
    );

    let acme = json!({"id": "acme", "name": "Acme", "buckets": ["shop-*"]});
    let (status, created) = operator(&server, "POST", "/v1/tenants", Some(acme.clone())).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["revision"], 1);
    assert_eq!(
        created["quotas"]["sync_allowed"], false,
        "sync is granted, not given"
    );
    let (status, body) = operator(&server, "POST", "/v1/tenants", Some(acme)).await;
    assert_eq!(status, 409, "{body}");
    let bad = json!({"id": "Acme Inc"});
    let (status, body) = operator(&server, "POST", "/v1/tenants", Some(bad)).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("a-z, 0-9"),
        "{body}"
    );
    let typo = json!({"id": "beta", "bucket": ["x"]});
    let (status, body) = operator(&server, "POST", "/v1/tenants", Some(typo)).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("bucket"),
        "{body}"
    );
    let pattern = json!({"id": "beta", "buckets": ["shop/records"]});
    let (status, body) = operator(&server, "POST", "/v1/tenants", Some(pattern)).await;
    assert_eq!(status, 400, "{body}");
    let beta = json!({"id": "beta", "quotas": {"max_listeners": 2, "sync_allowed": true}});
    assert_eq!(
        operator(&server, "POST", "/v1/tenants", Some(beta)).await.0,
        201
    );

    let (_, page) = operator(&server, "GET", "/v1/tenants?limit=1", None).await;
    assert_eq!(page["tenants"][0]["id"], "acme");
    assert_eq!(page["next"], "acme");
    let (_, page) = operator(&server, "GET", "/v1/tenants?after=acme&limit=1", None).await;
    assert_eq!(page["tenants"][0]["id"], "beta");
    assert_eq!(page["tenants"][0]["quotas"]["max_listeners"], 2);

    let rename = || Some(json!({"name": "Acme Corp"}));
    let if_match = |rev: &str| vec![("If-Match", rev.to_owned())];
    let patch = |headers: Vec<(&'static str, String)>| {
        let server = &server;
        async move {
            let mut all: Vec<(&str, &str)> =
                headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let auth = format!("Bearer {OPERATOR}");
            all.push(("Authorization", &auth));
            let body = serde_json::to_vec(&rename()).unwrap();
            let (status, text) = server
                .request("PATCH", "/v1/tenants/acme", &all, body)
                .await;
            (status, serde_json::from_str::<Value>(&text).unwrap())
        }
    };
    let (status, changed) = patch(if_match("\"1\"")).await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(
        (changed["revision"].as_u64(), changed["name"].as_str()),
        (Some(2), Some("Acme Corp"))
    );
    assert_eq!(
        changed["buckets"],
        json!(["shop-*"]),
        "what the change omits stays"
    );
    let (status, body) = patch(if_match("\"1\"")).await;
    assert_eq!(status, 412, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("revision 2, not 1"),
        "{body}"
    );
    let (status, body) = patch(if_match("yesterday")).await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = patch(Vec::new()).await;
    assert_eq!(status, 200, "without If-Match the change applies");

    assert_eq!(
        operator(&server, "DELETE", "/v1/tenants/acme", None)
            .await
            .0,
        204
    );
    let (status, body) = operator(&server, "GET", "/v1/tenants/acme", None).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(
        operator(&server, "DELETE", "/v1/tenants/acme", None)
            .await
            .0,
        404
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_token_is_its_tenant_until_revoked_disabled_or_deleted_and_never_the_operator() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path()).await;
    for id in ["acme", "beta"] {
        let (status, body) =
            operator(&server, "POST", "/v1/tenants", Some(json!({"id": id}))).await;
        assert_eq!(status, 201, "{body}");
    }
    let issue = |tenant: &'static str, scope: &'static str| {
        let server = &server;
        async move {
            let path = format!("/v1/tenants/{tenant}/tokens");
            let body = json!({"scope": scope, "label": "ci"});
            let (status, issued) = operator(server, "POST", &path, Some(body)).await;
            assert_eq!(status, 201, "{issued}");
            issued
        }
    };
    let deploy = issue("acme", "deploy").await;
    let token = deploy["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("wlt_") && token.len() == 68, "{token}");
    assert_eq!(deploy["prefix"].as_str().unwrap(), &token[4..16]);

    let whoami = |token: &str| {
        let (server, token) = (&server, token.to_owned());
        async move { call(server, "GET", "/v1/whoami", Some(&token), None).await }
    };
    let (status, me) = whoami(&token).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(
        me,
        json!({"caller": "tenant", "tenant": "acme", "scope": "deploy", "token": &token[4..16]})
    );
    assert_eq!(whoami(OPERATOR).await.1["caller"], "operator");
    let forged = format!("{}{}", &token[..16], "0".repeat(52));
    assert_eq!(whoami(&forged).await.0, 401);
    assert_eq!(whoami("nonsense").await.0, 401);

    // A tenant's token opens no operator route, whatever its scope.
    for (method, path) in [
        ("GET", "/v1/tenants"),
        ("GET", "/v1/tenants/acme"),
        ("POST", "/v1/tenants/acme/tokens"),
        ("DELETE", "/v1/tenants/beta"),
        ("GET", "/v1/invocations"),
        ("POST", "/v1/events"),
    ] {
        let (status, body) = call(&server, method, path, Some(&token), Some(json!({}))).await;
        assert_eq!(status, 403, "{method} {path}: {body}");
        assert!(
            body["message"].as_str().unwrap().contains("operator's"),
            "{body}"
        );
    }
    assert_eq!(
        operator(&server, "GET", "/v1/tenants/beta", None).await.0,
        200,
        "beta untouched"
    );

    // Listed by prefix: neither the token nor its hash comes back.
    let (_, listed) = operator(&server, "GET", "/v1/tenants/acme/tokens", None).await;
    let text = listed.to_string();
    assert!(
        !text.contains(&token[16..]) && !text.contains("sha256"),
        "{text}"
    );
    assert_eq!(listed["tokens"][0]["prefix"], deploy["prefix"]);

    // Beta's path cannot revoke Acme's token.
    let prefix = deploy["prefix"].as_str().unwrap();
    let beta_path = format!("/v1/tenants/beta/tokens/{prefix}");
    assert_eq!(operator(&server, "DELETE", &beta_path, None).await.0, 404);
    assert_eq!(whoami(&token).await.0, 200);
    let path = format!("/v1/tenants/acme/tokens/{prefix}");
    let (status, revoked) = operator(&server, "DELETE", &path, None).await;
    assert_eq!(status, 200, "{revoked}");
    assert!(revoked["revoked_ms"].as_u64().is_some(), "{revoked}");
    assert_eq!(whoami(&token).await.0, 401, "revoked: refused at once");

    let reader = issue("acme", "read-only").await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(whoami(&reader).await.1["scope"], "read-only");
    let disable = Some(json!({"disabled": true}));
    assert_eq!(
        operator(&server, "PATCH", "/v1/tenants/acme", disable)
            .await
            .0,
        200
    );
    assert_eq!(
        whoami(&reader).await.0,
        401,
        "a disabled tenant's tokens are refused"
    );
    let enable = Some(json!({"disabled": false}));
    assert_eq!(
        operator(&server, "PATCH", "/v1/tenants/acme", enable)
            .await
            .0,
        200
    );
    assert_eq!(whoami(&reader).await.0, 200);
    assert_eq!(
        operator(&server, "DELETE", "/v1/tenants/acme", None)
            .await
            .0,
        204
    );
    assert_eq!(
        whoami(&reader).await.0,
        401,
        "a deleted tenant's tokens are refused"
    );

    let past = json!({"scope": "deploy", "expires_ms": 1});
    let (status, body) = operator(&server, "POST", "/v1/tenants/beta/tokens", Some(past)).await;
    assert_eq!(status, 400, "{body}");
    let scope = json!({"scope": "admin"});
    let (status, body) = operator(&server, "POST", "/v1/tenants/beta/tokens", Some(scope)).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("read-only"),
        "{body}"
    );
    server.stop().await.unwrap();
}
