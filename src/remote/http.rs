//! The Bazel HTTP cache protocol: `GET`/`HEAD`/`PUT` of `PREFIX/ac/<sha256 hex>` (action-cache
//! records) and `PREFIX/cas/<sha256 hex>` (blobs, named by the sha256 of their bytes), as
//! bazel-remote, nginx WebDAV and most Bazel caches serve it. A user and password in the URL
//! become basic authentication; `RTASK_REMOTE_HEADER` adds one header.

use base64::Engine as _;
use url::Url;

use super::config::Header;
use super::transfer::Prepared;

pub(crate) struct Http {
    /// Without user or password, its path ending in `/`.
    base: Url,
    /// Headers sent with every request (secrets: never displayed).
    headers: Vec<(String, String)>,
}

impl Http {
    pub(crate) fn new(url: &Url, header: Option<&Header>) -> Http {
        let mut base = url.clone();
        let mut headers = Vec::new();
        if !url.username().is_empty() || url.password().is_some() {
            let decode =
                |text: &str| percent_encoding::percent_decode_str(text).collect::<Vec<u8>>();
            let mut credentials = decode(url.username());
            credentials.push(b':');
            credentials.extend(decode(url.password().unwrap_or_default()));
            let encoded = base64::engine::general_purpose::STANDARD.encode(credentials);
            headers.push(("Authorization".to_string(), format!("Basic {encoded}")));
        }
        if let Some(header) = header {
            headers.push((header.name.clone(), header.value.clone()));
        }
        let _ = base.set_username("");
        let _ = base.set_password(None);
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        Http { base, headers }
    }

    /// A request for `path` (`ac/<hex>` or `cas/<hex>`), below the URL's path.
    pub(crate) fn prepare(&self, path: &str) -> Prepared {
        Prepared {
            url: format!("{}{path}", self.base),
            headers: self.headers.clone(),
        }
    }
}
