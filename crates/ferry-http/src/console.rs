//! The web console: `GET /` answers `index.html`, `GET /console/{file}` its stylesheet and
//! JavaScript modules. The files under `assets/` are built into the binary, so the console needs
//! no network at run time; it reads the broker only through the REST API (see docs/console.md).
//!
//! Every answer carries a strong `ETag` (a hash of the file, computed at compile time) and
//! `Cache-Control: no-cache`: a browser keeps the files and revalidates them on each load, and
//! an upgraded binary is picked up at once because the file names carry no version.

use std::sync::Arc;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::error::ApiError;
use crate::server::HttpContext;

/// One file of the console.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
    etag: &'static str,
}

/// Declares the asset table: each file with its content type, its body embedded at build time
/// and its ETag computed from the body at compile time.
macro_rules! assets {
    ($($name:literal => $content_type:expr),* $(,)?) => {
        &[$(
            Asset {
                name: $name,
                content_type: $content_type,
                body: include_bytes!(concat!("../assets/", $name)),
                etag: {
                    const HEX: [u8; 18] = etag_of(include_bytes!(concat!("../assets/", $name)));
                    match std::str::from_utf8(&HEX) {
                        Ok(etag) => etag,
                        Err(_) => panic!("an ETag is ASCII"),
                    }
                },
            },
        )*]
    };
}

const JS: &str = "text/javascript; charset=utf-8";

static ASSETS: &[Asset] = assets![
    "index.html" => "text/html; charset=utf-8",
    "console.css" => "text/css; charset=utf-8",
    "app.js" => JS,
    "api.js" => JS,
    "dom.js" => JS,
    "format.js" => JS,
    "sparkline.js" => JS,
    "overview.js" => JS,
    "queues.js" => JS,
    "queue.js" => JS,
    "topics.js" => JS,
    "groups.js" => JS,
    "exchanges.js" => JS,
    "favicon.svg" => "image/svg+xml",
];

/// What the console's pages may load: their own files, and nothing from elsewhere.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; \
     frame-ancestors 'none'";

pub(crate) fn routes() -> Router<Arc<HttpContext>> {
    Router::new().route("/", get(index)).route("/console/{file}", get(file))
}

async fn index(headers: HeaderMap) -> Response {
    respond(find("index.html").expect("index.html is in the asset table"), &headers)
}

async fn file(Path(name): Path<String>, headers: HeaderMap) -> Response {
    match find(&name) {
        Some(asset) => respond(asset, &headers),
        None => ApiError::not_found("not_found", format!("the console has no file named {name:?}"))
            .into_response(),
    }
}

fn find(name: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|asset| asset.name == name)
}

fn respond(asset: &'static Asset, request: &HeaderMap) -> Response {
    let etag = HeaderValue::from_static(asset.etag);
    let mut response = if matches_etag(request, asset.etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut response = asset.body.into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
        response
    };
    let headers = response.headers_mut();
    headers.insert(header::ETAG, etag);
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

/// Whether `If-None-Match` names `etag` (or `*`), so the browser's copy is current.
fn matches_etag(request: &HeaderMap, etag: &str) -> bool {
    request
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == etag || tag == "*")
}

/// A quoted strong ETag: the 64-bit FNV-1a hash of `bytes` in hex, `"0123456789abcdef"`.
const fn etag_of(bytes: &[u8]) -> [u8; 18] {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    let digits = b"0123456789abcdef";
    let mut tag = [b'"'; 18];
    let mut n = 0;
    while n < 16 {
        tag[16 - n] = digits[((hash >> (4 * n)) & 0xf) as usize];
        n += 1;
    }
    tag
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_has_a_distinct_quoted_etag() {
        for asset in ASSETS {
            assert_eq!(asset.etag.len(), 18, "{}", asset.name);
            assert!(asset.etag.starts_with('"') && asset.etag.ends_with('"'), "{}", asset.name);
            assert!(!asset.body.is_empty(), "{} is empty", asset.name);
        }
        let mut tags: Vec<_> = ASSETS.iter().map(|asset| asset.etag).collect();
        tags.sort_unstable();
        tags.dedup();
        assert_eq!(tags.len(), ASSETS.len());
    }

    #[test]
    fn every_file_under_assets_is_served() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets");
        let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
            .expect("assets/ is readable")
            .map(|entry| entry.expect("a directory entry").file_name().to_string_lossy().into_owned())
            .collect();
        on_disk.sort_unstable();
        let mut served: Vec<String> = ASSETS.iter().map(|asset| asset.name.to_owned()).collect();
        served.sort_unstable();
        assert_eq!(on_disk, served, "add a new file of assets/ to the ASSETS table");
    }

    #[test]
    fn every_module_a_page_imports_is_served() {
        for asset in
            ASSETS.iter().filter(|asset| asset.name.ends_with(".js") || asset.name.ends_with(".html"))
        {
            let text = std::str::from_utf8(asset.body).expect("text assets are UTF-8");
            for quote in ["\"./", "\"/console/"] {
                for (at, _) in text.match_indices(quote) {
                    let rest = &text[at + quote.len()..];
                    let name = &rest[..rest.find('"').expect("a closing quote")];
                    assert!(find(name).is_some(), "{} refers to {name}, which is not served", asset.name);
                }
            }
        }
    }

    #[test]
    fn if_none_match_lists_and_weak_tags_match() {
        let mut headers = HeaderMap::new();
        headers.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"x\", W/\"0123\""));
        assert!(matches_etag(&headers, "\"0123\""));
        assert!(!matches_etag(&headers, "\"4567\""));
        assert!(!matches_etag(&HeaderMap::new(), "\"0123\""));
    }

    #[test]
    fn etag_is_fnv1a_in_hex() {
        // FNV-1a of the empty input is its offset basis.
        assert_eq!(&etag_of(b""), b"\"cbf29ce484222325\"");
    }
}
