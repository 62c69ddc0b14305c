//! `deploy/template.yaml`, the AWS side of a deployment: cfn-lint accepts it, its table is the
//! one `order-manager migrate` creates, and its IAM policies allow exactly the calls the code
//! makes. cfn-lint comes with moto's pinned set in `.venv` (`scripts/test` installs it).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn template_path() -> PathBuf {
    root().join("deploy/template.yaml")
}

/// `.venv/bin/<tool>`, or `None` (the test is skipped) when `.venv` is not set up, unless
/// `OM_TEST_REQUIRE_MOTO` says the full suite is running.
fn venv_tool(tool: &str) -> Option<PathBuf> {
    let path = root().join(".venv/bin").join(tool);
    if path.exists() {
        return Some(path);
    }
    if std::env::var_os("OM_TEST_REQUIRE_MOTO").is_some() {
        panic!("{} is missing: run scripts/test", path.display());
    }
    eprintln!(
        "skipping: {} is missing (scripts/test installs it)",
        path.display()
    );
    None
}

/// The template as JSON, decoded by cfn-lint's own reader (it knows `!Ref` and friends).
fn template() -> Option<Value> {
    let python = venv_tool("python")?;
    let out = Command::new(python)
        .args([
            "-c",
            "import json, sys\nfrom cfnlint.decode import decode\n\
             t, errors = decode(sys.argv[1])\n\
             assert not errors, errors\nprint(json.dumps(t))",
        ])
        .arg(template_path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_slice(&out.stdout).unwrap())
}

#[test]
fn cfn_lint_accepts_the_template() {
    let Some(cfn_lint) = venv_tool("cfn-lint") else {
        return;
    };
    let out = Command::new(cfn_lint)
        .arg(template_path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cfn-lint:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_table_is_the_one_migrate_creates() {
    let Some(t) = template() else { return };
    let table = &t["Resources"]["OrdersTable"]["Properties"];
    let want: Value = serde_json::from_str(order_manager::outbound::dynamodb::TABLE_JSON).unwrap();
    for key in [
        "AttributeDefinitions",
        "KeySchema",
        "BillingMode",
        "GlobalSecondaryIndexes",
    ] {
        assert_eq!(table[key], want[key], "{key}");
    }
    let ttl: Value = serde_json::from_str(order_manager::outbound::dynamodb::TTL_JSON).unwrap();
    assert_eq!(
        table["TimeToLiveSpecification"],
        ttl["TimeToLiveSpecification"]
    );
}

#[test]
fn every_event_type_has_a_rule_to_the_api_destination() {
    let Some(t) = template() else { return };
    let mut types = BTreeSet::new();
    for (name, r) in t["Resources"].as_object().unwrap() {
        if r["Type"] != "AWS::Events::Rule" {
            continue;
        }
        let p = &r["Properties"];
        for d in p["EventPattern"]["detail-type"].as_array().unwrap() {
            types.insert(d.as_str().unwrap().to_string());
        }
        let target = &p["Targets"][0];
        assert_eq!(
            target["Arn"]["Fn::GetAtt"][0], "IngestDestination",
            "{name}"
        );
        assert!(target["DeadLetterConfig"]["Arn"].is_object(), "{name}");
    }
    // The four types the ingest endpoint acts on (`domain::events`).
    let want: BTreeSet<String> = [
        "OrderProcessor.WorkflowStarted",
        "OrderProcessor.WaitingCompletion",
        "OrderProcessor.OrderTimeOut",
        "OrderProcessor.orderFinished",
    ]
    .map(String::from)
    .into();
    assert_eq!(types, want);
    let dest = &t["Resources"]["IngestDestination"]["Properties"];
    assert_eq!(dest["HttpMethod"], "POST");
    assert_eq!(
        dest["InvocationEndpoint"]["Fn::Sub"],
        "${ServiceUrl}/v1/events"
    );
}

/// The SDK operations called on a `client` in `files` (`client.get_item()`, also across a
/// line break), as IAM action names: `get_item` → `GetItem`.
fn calls(files: &[PathBuf]) -> BTreeSet<String> {
    let mut ops = BTreeSet::new();
    for file in files {
        let src = std::fs::read_to_string(file).unwrap();
        for (at, _) in src.match_indices("client") {
            let rest = src[at + "client".len()..].trim_start();
            let Some(rest) = rest.strip_prefix('.') else {
                continue;
            };
            let name: String = rest
                .trim_start()
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            let after = rest.trim_start()[name.len()..].to_string();
            if name.is_empty() || !after.starts_with("()") || ["borrow", "clone"].contains(&&*name)
            {
                continue;
            }
            ops.insert(
                name.split('_')
                    .map(|w| {
                        let mut c = w.chars();
                        c.next()
                            .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                            .unwrap_or_default()
                    })
                    .collect(),
            );
        }
    }
    ops
}

fn sources(dir: &str, except: &[&str]) -> Vec<PathBuf> {
    let dir = root().join(dir);
    if dir.is_file() {
        return vec![dir];
    }
    std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !except.iter().any(|x| p.ends_with(x)))
        .collect()
}

/// The actions of the policy `resource` for `service` (e.g. `dynamodb`), without the prefix.
fn allowed(t: &Value, resource: &str, service: &str) -> BTreeSet<String> {
    let mut actions = BTreeSet::new();
    for st in t["Resources"][resource]["Properties"]["PolicyDocument"]["Statement"]
        .as_array()
        .unwrap()
    {
        assert_eq!(st["Effect"], "Allow");
        let list = match &st["Action"] {
            Value::String(a) => vec![a.clone()],
            Value::Array(a) => a.iter().map(|v| v.as_str().unwrap().to_string()).collect(),
            other => panic!("{other}"),
        };
        for a in list {
            assert!(!a.contains('*'), "no wildcard actions: {a}");
            if let Some(op) = a.strip_prefix(&format!("{service}:")) {
                actions.insert(op.to_string());
            }
        }
    }
    actions
}

#[test]
fn the_policies_allow_exactly_the_calls_the_code_makes() {
    let Some(t) = template() else { return };
    // The running service. `TransactWriteItems` has no IAM action: each of its items (puts
    // and updates) needs its own; `schema.rs` is `migrate`'s, `import.rs` a bulk loader for
    // tests and benchmarks.
    let mut dynamodb = calls(&sources(
        "src/outbound/dynamodb",
        &["schema.rs", "import.rs", "tests.rs"],
    ));
    assert!(dynamodb.remove("TransactWriteItems"), "{dynamodb:?}");
    dynamodb.extend(["PutItem".to_string(), "UpdateItem".to_string()]);
    // `connect` records the shard count (schema.rs) with a get and a conditional put.
    dynamodb.extend(["GetItem".to_string(), "PutItem".to_string()]);
    assert_eq!(allowed(&t, "ServicePolicy", "dynamodb"), dynamodb);
    assert_eq!(
        allowed(&t, "ServicePolicy", "states"),
        calls(&sources("src/outbound/stepfunctions.rs", &[]))
    );
    assert_eq!(
        allowed(&t, "ServicePolicy", "events"),
        calls(&sources("src/outbound/eventbridge.rs", &[]))
    );
    assert_eq!(
        allowed(&t, "MigratePolicy", "dynamodb"),
        calls(&sources("src/outbound/dynamodb/schema.rs", &[]))
    );
}
