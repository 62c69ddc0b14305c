//! The board at `/`: the page and its assets, from this service, under their own strict CSP
//! (`tests/browser.rs` drives it in a real browser).

use reqwest::StatusCode;

use crate::support::{TestApp, sfn};
use order_manager::inbound::http::board::BOARD_CSP;

#[tokio::test]
async fn the_board_and_its_assets_are_served_under_their_own_strict_csp() {
    let app = TestApp::spawn(sfn::accepting().0).await;
    for (path, content_type) in [
        ("/", "text/html"),
        ("/board/board.css", "text/css"),
        ("/board/board.js", "text/javascript"),
        ("/board/api.js", "text/javascript"),
    ] {
        let res = app.http.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        let h = res.headers();
        assert!(
            h["content-type"]
                .to_str()
                .unwrap()
                .starts_with(content_type),
            "{path}: {:?}",
            h["content-type"]
        );
        let csp = h["content-security-policy"].to_str().unwrap();
        assert_eq!(csp, BOARD_CSP, "{path}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        let body = res.text().await.unwrap();
        // Nothing is loaded from elsewhere: no absolute URL in the page or its code.
        for outside in ["http://", "https://", "//cdn", "@import"] {
            assert!(!body.contains(outside), "{path} names {outside}");
        }
        if path == "/" {
            assert!(
                !body.contains("<style") && !body.contains(" style="),
                "inline style"
            );
            assert!(
                body.contains(r#"<script type="module" src="/board/board.js"></script>"#),
                "{body}"
            );
        }
    }
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(BOARD_CSP.contains(directive), "{directive}");
    }
    for loose in ["unsafe-inline", "unsafe-eval", "*"] {
        assert!(!BOARD_CSP.contains(loose), "{loose}");
    }
}

#[tokio::test]
async fn the_rest_of_the_board_s_paths_are_404_and_the_page_takes_only_get() {
    let app = TestApp::spawn(sfn::accepting().0).await;
    let res = app
        .http
        .get(app.url("/board/nope.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = app.http.post(app.url("/")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    let res = app.http.head(app.url("/")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}
