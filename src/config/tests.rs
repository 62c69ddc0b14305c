//! The command line: defaults, and errors that name their variable.

use std::str::FromStr;
use std::time::Duration;

use super::*;
use crate::inbound::http::auth::{TokenSettings, TokenUse};
use crate::inbound::http::hardening::CorsOrigins;

#[test]
fn bad_values_name_their_variable() {
    let err = Cli::try_parse_from(["order-manager", "--store", "postgres://x"]).unwrap_err();
    assert!(err.to_string().contains("OM_STORE"), "{err}");
    let err = Cli::try_parse_from(["order-manager", "--listen", "nowhere"]).unwrap_err();
    assert!(err.to_string().contains("OM_LISTEN"), "{err}");
}

#[test]
fn serve_is_the_default_subcommand() {
    let cli = Cli::try_parse_from(["order-manager", "--store", "sqlite:/tmp/x.db"]).unwrap();
    assert!(cli.command.is_none());
    assert_eq!(
        cli.serve.store.store,
        StoreConfig::Sqlite("/tmp/x.db".into())
    );
}

#[test]
fn events_default_to_the_serverlesspresso_bus() {
    let cli = Cli::try_parse_from(["order-manager"]).unwrap();
    assert_eq!(cli.serve.events(), EventsKind::None, "no AWS by default");
    assert_eq!(cli.serve.events.event_bus, "Serverlesspresso");
    assert_eq!(
        cli.serve.events.event_source,
        "awsserverlessda.serverlesspresso"
    );
    let cli = Cli::try_parse_from([
        "order-manager",
        "--events",
        "none",
        "--event-bus",
        "arn:aws:events:us-east-1:123456789012:event-bus/shop",
    ])
    .unwrap();
    assert_eq!(cli.serve.events(), EventsKind::None);
    assert_eq!(
        cli.serve.events.event_bus,
        "arn:aws:events:us-east-1:123456789012:event-bus/shop"
    );
}

#[test]
fn bad_event_and_timing_settings_name_their_variable() {
    for (flag, value, var) in [
        ("--event-bus", "", "OM_EVENT_BUS"),
        ("--event-bus", "my bus", "OM_EVENT_BUS"),
        ("--event-source", "", "OM_EVENT_SOURCE"),
        ("--event-source", "a b", "OM_EVENT_SOURCE"),
        ("--shutdown-grace", "soon", "OM_SHUTDOWN_GRACE"),
        ("--request-timeout", "10 parsecs", "OM_REQUEST_TIMEOUT"),
        ("--events", "kafka", "eventbridge"),
    ] {
        let err = Cli::try_parse_from(["order-manager", flag, value]).unwrap_err();
        assert!(err.to_string().contains(var), "{flag} {value}: {err}");
    }
}

#[test]
fn dynamodb_stores_parse_and_bad_ones_name_their_variable() {
    let cli = Cli::try_parse_from([
        "order-manager",
        "--store",
        "dynamodb:orders.prod-1",
        "--dynamodb-shards",
        "16",
        "--create-table",
    ])
    .unwrap();
    assert_eq!(
        cli.serve.store.store,
        StoreConfig::Dynamodb {
            table: "orders.prod-1".into()
        }
    );
    assert_eq!(cli.serve.store.dynamodb_shards, 16);
    assert!(cli.serve.store_setup.create_table);
    let cli = Cli::try_parse_from(["order-manager"]).unwrap();
    assert_eq!(cli.serve.store.dynamodb_shards, 8);
    assert!(!cli.serve.store_setup.create_table);
    for (flag, value, var) in [
        ("--store", "dynamodb:ab", "OM_STORE"),
        ("--store", "dynamodb:has space", "OM_STORE"),
        ("--store", "dynamodb:", "OM_STORE"),
        ("--dynamodb-shards", "0", "OM_DYNAMODB_SHARDS"),
        ("--dynamodb-shards", "65", "OM_DYNAMODB_SHARDS"),
        ("--processor-store", "dynamodb:orders", "OM_PROCESSOR_STORE"),
    ] {
        let err = Cli::try_parse_from(["order-manager", flag, value]).unwrap_err();
        assert!(err.to_string().contains(var), "{flag} {value}: {err}");
    }
    let err = Cli::try_parse_from(["order-manager", "--create-table=maybe"]).unwrap_err();
    assert!(err.to_string().contains("OM_CREATE_TABLE"), "{err}");
    let cli = Cli::try_parse_from(["order-manager", "--create-table=false"]).unwrap();
    assert!(!cli.serve.store_setup.create_table);
    let long = format!("dynamodb:{}", "t".repeat(256));
    assert!(long.parse::<StoreConfig>().is_err());
}

#[test]
fn migrate_takes_the_store() {
    let cli =
        Cli::try_parse_from(["order-manager", "migrate", "--store", "dynamodb:orders"]).unwrap();
    let Some(Command::Migrate(args)) = cli.command else {
        panic!("not migrate")
    };
    assert_eq!(
        args.store.store,
        StoreConfig::Dynamodb {
            table: "orders".into()
        }
    );
    assert_eq!(args.store.dynamodb_shards, 8);
}

#[test]
fn compat_is_on_by_default_and_bad_values_name_the_variable() {
    let cli = Cli::try_parse_from(["order-manager"]).unwrap();
    assert_eq!(cli.serve.compat.compat, CompatMode::Serverlesspresso);
    let cli = Cli::try_parse_from(["order-manager", "--compat", "none"]).unwrap();
    assert_eq!(cli.serve.compat.compat, CompatMode::None);
    let err = Cli::try_parse_from(["order-manager", "--compat", "lambda"]).unwrap_err();
    assert!(err.to_string().contains("OM_COMPAT"), "{err}");
    assert!(err.to_string().contains("serverlesspresso"), "{err}");
    let cli = Cli::try_parse_from(["order-manager", "openapi", "--compat", "none"]).unwrap();
    let Some(Command::Openapi(args)) = cli.command else {
        panic!("not openapi")
    };
    assert_eq!(args.compat.compat, CompatMode::None);
}

#[test]
fn shops_are_open_with_the_orderprocessor_s_limits_unless_configured() {
    let cli = Cli::try_parse_from(["order-manager"]).unwrap();
    assert_eq!(
        cli.serve.shop.settings(),
        crate::domain::shop::ShopSettings::default()
    );
    let cli = Cli::try_parse_from([
        "order-manager",
        "--shop",
        "Closed",
        "--max-orders-in-queue",
        "50",
        "--max-orders-per-user",
        "2",
    ])
    .unwrap();
    let shop = cli.serve.shop.settings();
    assert!(!shop.open);
    assert_eq!(
        (shop.max_orders_in_queue, shop.max_orders_per_user),
        (50, 2)
    );
    for (flag, value, var) in [
        ("--shop", "ajar", "OM_SHOP"),
        ("--max-orders-in-queue", "0", "OM_MAX_ORDERS_IN_QUEUE"),
        ("--max-orders-per-user", "100001", "OM_MAX_ORDERS_PER_USER"),
        ("--max-orders-per-user", "many", "OM_MAX_ORDERS_PER_USER"),
    ] {
        let err = Cli::try_parse_from(["order-manager", flag, value]).unwrap_err();
        assert!(err.to_string().contains(var), "{flag} {value}: {err}");
    }
}

#[test]
fn the_orderprocessor_s_input_and_cancels_fit_the_serverlesspresso_machine_by_default() {
    use crate::domain::lifecycle::CancelCallback;
    use crate::outbound::stepfunctions::StartInput;
    let settings = serve(&[]).unwrap().settings().unwrap();
    assert_eq!(
        settings.order_processor_input,
        StartInput::ValidatorEvent {
            source: "awsserverlessda.serverlesspresso".into()
        }
    );
    assert_eq!(settings.service.cancel_callback, CancelCallback::Success);
    let settings = serve(&[
        "--order-processor-input",
        "flat",
        "--cancel-callback",
        "failure",
        "--event-source",
        "shop.coffee",
    ])
    .unwrap()
    .settings()
    .unwrap();
    assert_eq!(settings.order_processor_input, StartInput::Flat);
    assert_eq!(settings.service.cancel_callback, CancelCallback::Failure);
    let settings = serve(&["--event-source", "shop.coffee"])
        .unwrap()
        .settings();
    assert_eq!(
        settings.unwrap().order_processor_input,
        StartInput::ValidatorEvent {
            source: "shop.coffee".into()
        },
        "the event says who put it, as the validator's does"
    );
}

#[test]
fn bad_choices_name_their_variable_and_what_they_take() {
    for (flag, var, good) in [
        ("--events", "OM_EVENTS", "`eventbridge`"),
        ("--log-format", "OM_LOG_FORMAT", "`json`"),
        ("--sqlite-sync", "OM_SQLITE_SYNC", "`normal`"),
        ("--sqlite-wal-appends", "OM_SQLITE_WAL_APPENDS", "`off`"),
        ("--workflow", "OM_WORKFLOW", "`stepfunctions`"),
        (
            "--order-processor-input",
            "OM_ORDER_PROCESSOR_INPUT",
            "`flat`",
        ),
        ("--cancel-callback", "OM_CANCEL_CALLBACK", "`failure`"),
    ] {
        let err = serve(&[flag, "nonsense"]).unwrap_err();
        assert!(err.contains(var), "{flag}: {err}");
        assert!(
            err.contains(good) && err.contains("`nonsense`"),
            "{flag}: {err}"
        );
        assert!(err.contains(flag), "the flag too: {err}");
    }
    // The choices are still listed by `--help`.
    let help = Cli::try_parse_from(["order-manager", "--help"])
        .unwrap_err()
        .to_string();
    assert!(
        help.contains("- validator: ") && help.contains("- flat: "),
        "{help}"
    );
}

#[test]
fn ttls_parse() {
    assert_eq!(Span::from_str("15m").unwrap().0, Duration::from_secs(900));
    assert!(Span::from_str("soon").is_err());
}

const SECRET: &str = "a-local-secret-of-at-least-32-bytes!";
const POOL: &str = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Abc123";

fn serve(args: &[&str]) -> Result<ServeArgs, String> {
    let argv = ["order-manager", "--jwt-secret", SECRET]
        .into_iter()
        .chain(args.iter().copied());
    Cli::try_parse_from(argv)
        .map(|c| c.serve)
        .map_err(|e| e.to_string())
}

#[test]
fn without_an_issuer_tokens_are_local_and_with_one_cognito() {
    let local = serve(&[]).unwrap().auth.tokens().unwrap();
    assert!(matches!(local, TokenSettings::Local { .. }));
    let args = serve(&[
        "--cognito-issuer",
        &format!("{POOL}/"),
        "--cognito-client-ids",
        "client1,client2",
    ])
    .unwrap();
    let TokenSettings::Cognito(c) = args.auth.tokens().unwrap() else {
        panic!("not Cognito")
    };
    assert_eq!(c.issuer, POOL);
    assert_eq!(c.client_ids, ["client1", "client2"]);
    assert_eq!(c.jwks_url, format!("{POOL}/.well-known/jwks.json"));
    assert_eq!(c.token_uses, [TokenUse::Access]);
    let args = serve(&[
        "--cognito-issuer",
        POOL,
        "--cognito-client-ids",
        "client1",
        "--jwks-url",
        "http://127.0.0.1:5999/pool/.well-known/jwks.json",
        "--cognito-token-use",
        "access,id",
    ])
    .unwrap();
    let TokenSettings::Cognito(c) = args.auth.tokens().unwrap() else {
        panic!("not Cognito")
    };
    assert_eq!(
        c.jwks_url,
        "http://127.0.0.1:5999/pool/.well-known/jwks.json"
    );
    assert_eq!(c.token_uses, [TokenUse::Access, TokenUse::Id]);
}

#[test]
fn bad_sign_in_and_cors_settings_name_their_variable() {
    for (args, var) in [
        (
            vec![
                "--cognito-issuer",
                "http://cognito-idp.eu-west-1.amazonaws.com/p",
            ],
            "OM_COGNITO_ISSUER",
        ),
        (
            vec![
                "--cognito-issuer",
                "https://cognito-idp.eu-west-1.amazonaws.com",
            ],
            "OM_COGNITO_ISSUER",
        ),
        (
            vec!["--cognito-client-ids", "has space"],
            "OM_COGNITO_CLIENT_IDS",
        ),
        (
            vec!["--cognito-token-use", "refresh"],
            "OM_COGNITO_TOKEN_USE",
        ),
        (
            vec!["--jwks-url", "http://keys.example.com/jwks.json"],
            "OM_JWKS_URL",
        ),
        (
            vec!["--jwks-url", "ftp://127.0.0.1/jwks.json"],
            "OM_JWKS_URL",
        ),
        (
            vec!["--cors-origins", "https://app.example.com/"],
            "OM_CORS_ORIGINS",
        ),
        (
            vec!["--cors-origins", "*,https://app.example.com"],
            "OM_CORS_ORIGINS",
        ),
    ] {
        let err = serve(&args).unwrap_err();
        assert!(err.contains(var), "{args:?}: {err}");
    }
    let err = serve(&["--cognito-issuer", POOL])
        .unwrap()
        .auth
        .tokens()
        .unwrap_err();
    assert!(err.contains("OM_COGNITO_CLIENT_IDS"), "{err}");
    let err = serve(&["--cognito-client-ids", "c1"])
        .unwrap()
        .auth
        .tokens()
        .unwrap_err();
    assert!(err.contains("OM_COGNITO_ISSUER"), "{err}");
    let origins = serve(&[
        "--cors-origins",
        "https://a.example.com,http://localhost:3000",
    ])
    .unwrap()
    .http
    .cors_origins
    .unwrap();
    assert!(
        matches!(origins, CorsOrigins::List(ref l) if l.len() == 2),
        "{origins:?}"
    );
    assert_eq!(
        serve(&[]).unwrap().http.cors_origins,
        None,
        "no CORS by default"
    );
}

#[test]
fn ingest_credentials_combine_and_errors_never_show_them() {
    let args = serve(&[
        "--ingest-api-key",
        "single-key-0123456789",
        "--ingest-api-keys",
        "old-key-0123456789, new-key-0123456789,",
        "--ingest-basic",
        "eventbridge:basic-password-0123456789,other:other-password-0123456",
    ])
    .unwrap();
    assert_eq!(args.ingest.keys().unwrap().len(), 3);
    let basic = args.ingest.basic().unwrap();
    assert_eq!(basic.len(), 2);
    assert_eq!(basic[1].user, "other");
    assert!(serve(&[]).unwrap().ingest.keys().unwrap().is_empty());
    for (args, var, secret) in [
        (
            vec!["--ingest-api-key", "short-secret"],
            "OM_INGEST_API_KEY",
            "short-secret",
        ),
        (
            vec!["--ingest-api-keys", "good-key-0123456789,tiny-secret"],
            "OM_INGEST_API_KEYS",
            "tiny-secret",
        ),
    ] {
        let err = serve(&args).unwrap().ingest.keys().unwrap_err();
        assert!(err.contains(var) && !err.contains(secret), "{err}");
    }
    for value in [
        "eventbridge:short-pass",
        "no-colon-password-0123456789",
        ":password-without-user-0123",
    ] {
        let err = serve(&["--ingest-basic", value])
            .unwrap()
            .ingest
            .basic()
            .unwrap_err();
        assert!(err.contains("OM_INGEST_BASIC"), "{err}");
        assert!(
            !err.contains("short-pass") && !err.contains("0123"),
            "{err}"
        );
    }
}
