//! The committed OpenAPI document (`openapi/openapi.json`) is the one the code generates, and
//! `order-manager openapi` prints it.

use order_manager::config::CompatMode;
use order_manager::inbound::http::{openapi, openapi_document};

const COMMITTED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json");
const REGENERATE: &str = "cargo run -- openapi > openapi/openapi.json";

fn generated() -> String {
    openapi::to_pretty_json(&openapi_document(CompatMode::Serverlesspresso))
}

#[test]
fn committed_document_matches_the_code() {
    let committed = std::fs::read_to_string(COMMITTED)
        .unwrap_or_else(|e| panic!("cannot read {COMMITTED} ({e}); create it with `{REGENERATE}`"));
    let generated = generated();
    if committed != generated {
        let line = committed
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .map_or_else(|| "the end".to_string(), |n| format!("line {}", n + 1));
        panic!(
            "openapi/openapi.json has drifted from the code (first difference at {line}); \
             regenerate it with `{REGENERATE}` and review the diff"
        );
    }
}

#[test]
fn the_cli_prints_the_committed_document() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_order-manager"))
        .arg("openapi")
        .env_remove("OM_COMPAT")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8(out.stdout).unwrap(), generated());
}

#[test]
fn every_operation_is_documented_with_its_errors_and_security() {
    let doc: serde_json::Value = serde_json::from_str(&generated()).unwrap();
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["bearer"]["bearerFormat"], "JWT");
    assert_eq!(schemes["ingestApiKey"]["name"], "x-api-key");
    assert_eq!(schemes["ingestApiKey"]["in"], "header");
    assert_eq!(schemes["ingestBasic"]["scheme"], "basic");
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            operations += 1;
            let what = format!("{method} {path}");
            assert!(op["operationId"].is_string(), "{what}: no operationId");
            assert!(
                op["tags"].as_array().is_some_and(|t| !t.is_empty()),
                "{what}: no tag"
            );
            let responses = op["responses"].as_object().unwrap();
            assert!(
                responses.keys().any(|s| s.starts_with('2')),
                "{what}: no success"
            );
            for (status, r) in responses.iter().filter(|(s, _)| !s.starts_with('2')) {
                let reference = r["$ref"].as_str().unwrap_or_default();
                let name = reference.rsplit('/').next().unwrap();
                let content = &doc["components"]["responses"][name]["content"];
                assert_eq!(
                    content["application/problem+json"]["schema"]["$ref"],
                    "#/components/schemas/ProblemDetails",
                    "{what} {status}: not a problem+json response"
                );
            }
            // Public: the probes, the metrics, and the config service's read (public there).
            if !matches!(
                path.as_str(),
                "/healthz" | "/readyz" | "/metrics" | "/config"
            ) {
                assert!(responses.contains_key("401"), "{what}: no 401");
                assert!(op["security"].is_array(), "{what}: no security");
            }
            if path.starts_with("/orders") || path == "/myOrders" {
                assert_eq!(op["tags"][0], "serverlesspresso-compat", "{what}");
            }
        }
    }
    assert!(operations >= 22, "only {operations} operations");
    let ingest = &doc["paths"]["/v1/events"]["post"]["security"];
    assert_eq!(
        ingest,
        &serde_json::json!([{"ingestApiKey": []}, {"ingestBasic": []}])
    );
}

#[test]
fn without_compat_the_original_routes_are_not_documented() {
    let doc = serde_json::to_value(openapi_document(CompatMode::None)).unwrap();
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.contains_key("/v1/orders"));
    assert!(
        !paths
            .keys()
            .any(|p| p.starts_with("/orders") || p == "/myOrders")
    );
}
