//! The webchat widget's built files, embedded in the binary so that the daemon serves them with no
//! node at run time: the loader (`widget.js`, a stable URL with a short cache), the chat app
//! (`chat.js`, `chat.css`, served under names carrying their content hash, cached for good), the
//! chat page and the demo page, filled in per flow; and the agent console (`console.js`, a Preact
//! app, and `console.css`, hashed too) with its page.
//!
//! The sources are TypeScript in `ui/src`, built by esbuild (`npm --prefix ui run build`) into
//! `ui/dist`, which is committed; `tests/bundle.rs` rebuilds them and fails when the committed
//! files are stale, and holds them to their size budgets. It depends on nothing of the workspace.

use std::sync::OnceLock;

use sha2::{Digest, Sha256};

/// One built file.
#[derive(Debug)]
pub struct Asset {
    /// The name it is served under: `widget.js`, or `chat.<hash>.js` for hashed assets.
    pub name: String,
    pub bytes: &'static [u8],
    pub content_type: &'static str,
    /// A strong ETag, quoted.
    pub etag: String,
    /// Whether its name changes with its content (so it may be cached for good).
    pub hashed: bool,
}

const LOADER: &[u8] = include_bytes!("../ui/dist/widget.js");
const CHAT_JS: &[u8] = include_bytes!("../ui/dist/chat.js");
const CHAT_CSS: &[u8] = include_bytes!("../ui/dist/chat.css");
const DEMO: &str = include_str!("../ui/dist/demo.html");
const CONSOLE_JS: &[u8] = include_bytes!("../ui/dist/console.js");
const CONSOLE_CSS: &[u8] = include_bytes!("../ui/dist/console.css");

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

fn digest(bytes: &[u8]) -> String {
    hex::encode(&Sha256::digest(bytes)[..10])
}

fn asset(
    stem: &str,
    ext: &str,
    bytes: &'static [u8],
    content_type: &'static str,
    hashed: bool,
) -> Asset {
    let hash = digest(bytes);
    let name = if hashed { format!("{stem}.{hash}.{ext}") } else { format!("{stem}.{ext}") };
    Asset { name, bytes, content_type, etag: format!("\"{hash}\""), hashed }
}

/// Every asset: the loader first.
pub fn assets() -> &'static [Asset] {
    static ASSETS: OnceLock<Vec<Asset>> = OnceLock::new();
    ASSETS.get_or_init(|| {
        vec![
            asset("widget", "js", LOADER, JS, false),
            asset("chat", "js", CHAT_JS, JS, true),
            asset("chat", "css", CHAT_CSS, CSS, true),
            asset("console", "js", CONSOLE_JS, JS, true),
            asset("console", "css", CONSOLE_CSS, CSS, true),
        ]
    })
}

/// The loader, served at a stable URL.
pub fn loader() -> &'static Asset {
    &assets()[0]
}

/// The hashed asset of that name, if any.
pub fn hashed(name: &str) -> Option<&'static Asset> {
    assets().iter().find(|a| a.hashed && a.name == name)
}

/// The chat page: the app and its stylesheet by their hashed names, and the flow's public
/// settings as a JSON document (`config_json`, which this escapes for a `<script>` element).
pub fn chat_page(base: &str, config_json: &str) -> String {
    let (script, style) = (&assets()[1].name, &assets()[2].name);
    let config = script_safe(config_json);
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>Chat</title>\n<link rel=\"stylesheet\" href=\"{base}/{style}\">\n</head>\n<body>\n\
         <script id=\"sb-config\" type=\"application/json\">{config}</script>\n\
         <script src=\"{base}/{script}\"></script>\n</body>\n</html>\n"
    )
}

/// The console's page: its app and stylesheet by their hashed names under `base`; no inline
/// script, so a strict CSP holds.
pub fn console_page(base: &str) -> String {
    let (script, style) = (&assets()[3].name, &assets()[4].name);
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>Switchboard console</title>\n<link rel=\"stylesheet\" href=\"{base}/{style}\">\n\
         </head>\n<body>\n<div id=\"console\"></div>\n\
         <script src=\"{base}/{script}\"></script>\n</body>\n</html>\n"
    )
}

/// The demo page the daemon serves at `/`, for the flow and service given.
pub fn demo_page(public_url: &str, flow_sid: &str, service_sid: &str) -> String {
    DEMO.replace("{{PUBLIC_URL}}", &html_text(public_url))
        .replace("{{FLOW}}", &html_text(flow_sid))
        .replace("{{SERVICE}}", &html_text(service_sid))
}

/// JSON that cannot end the `<script>` element it sits in, nor open a comment there.
fn script_safe(json: &str) -> String {
    json.replace('<', "\\u003c").replace('>', "\\u003e").replace('&', "\\u0026")
}

fn html_text(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashed_names_follow_the_content_and_the_loader_keeps_its_name() {
        assert_eq!(loader().name, "widget.js");
        assert!(!loader().hashed);
        let chat = &assets()[1];
        assert_eq!(chat.name, format!("chat.{}.js", digest(CHAT_JS)));
        assert_eq!(hashed(&chat.name).map(|a| a.bytes.len()), Some(CHAT_JS.len()));
        assert!(hashed("widget.js").is_none(), "the loader is not a hashed asset");
        assert!(hashed("chat.0000.js").is_none());
        assert_eq!(chat.etag, format!("\"{}\"", digest(CHAT_JS)));
    }

    #[test]
    fn the_chat_page_cannot_be_broken_out_of_by_its_settings() {
        let page =
            chat_page("/webchat/v1/assets", r#"{"greeting":"</script><script>alert(1)</script>"}"#);
        assert!(!page.contains("</script><script>alert"), "{page}");
        assert!(page.contains("\\u003c/script\\u003e"));
        assert!(page.contains(&format!("/webchat/v1/assets/{}", assets()[1].name)));
        let demo = demo_page("http://127.0.0.1:8080", "FO<x>", "IS1");
        assert!(demo.contains("data-flow=\"FO&lt;x&gt;\""));
        assert!(!demo.contains("{{"));
    }

    #[test]
    fn the_console_page_names_its_hashed_assets_and_has_no_inline_script() {
        let page = console_page("/webchat/v1/assets");
        assert!(page.contains(&format!("/webchat/v1/assets/{}", assets()[3].name)));
        assert!(page.contains(&format!("/webchat/v1/assets/{}", assets()[4].name)));
        assert!(assets()[3].name.starts_with("console.") && assets()[4].name.ends_with(".css"));
        assert_eq!(page.matches("<script").count(), page.matches("<script src=").count());
    }
}
