//! Which remote cache a run uses and how: its URL (from `--remote-cache`,
//! `RTASK_REMOTE_CACHE` or `[settings] remote_cache`, in that order), and the settings the
//! environment gives it. Secrets (a URL's password, header values, keys) are kept here and
//! never displayed.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use thiserror::Error;
use url::Url;

use super::http::Http;
use super::s3::{BadEndpoint, S3};
use super::transfer::Server;
use crate::cache::signing::Signing;
use crate::environment::Environment;

/// How long a request may wait without progress when `RTASK_REMOTE_TIMEOUT` is not set.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest `RTASK_REMOTE_TIMEOUT`, in seconds: an hour.
const MAX_TIMEOUT: f64 = 3600.0;

/// A remote cache's URL, checked.
#[derive(Clone, PartialEq, Eq)]
pub enum RemoteUrl {
    /// The Bazel HTTP cache protocol; the URL may carry a user and password.
    Http(Url),
    /// S3 (SigV4, path-style), objects under `prefix` in `bucket`.
    S3 { bucket: String, prefix: String },
}

/// Why a remote cache URL is refused. Never shows the URL itself, which may hold a password.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BadRemoteUrl {
    #[error("it is not a URL ({0})")]
    Unparsable(String),
    #[error("its scheme `{0}` is not one rtask reads")]
    Scheme(String),
    #[error("it names no host")]
    NoHost,
    #[error("it names no bucket")]
    NoBucket,
    #[error("it has a query or a fragment")]
    Query,
}

impl BadRemoteUrl {
    pub fn hint(&self) -> &'static str {
        "use `http(s)://HOST[:PORT]/PREFIX` (Bazel HTTP cache) or `s3://BUCKET/PREFIX`"
    }
}

impl FromStr for RemoteUrl {
    type Err = BadRemoteUrl;

    fn from_str(text: &str) -> Result<RemoteUrl, BadRemoteUrl> {
        let url = Url::parse(text).map_err(|error| BadRemoteUrl::Unparsable(error.to_string()))?;
        if url.query().is_some() || url.fragment().is_some() {
            return Err(BadRemoteUrl::Query);
        }
        match url.scheme() {
            "http" | "https" => {
                if url.host_str().is_none_or(str::is_empty) {
                    return Err(BadRemoteUrl::NoHost);
                }
                Ok(RemoteUrl::Http(url))
            }
            "s3" => {
                let bucket = url.host_str().unwrap_or_default().to_string();
                if bucket.is_empty() {
                    return Err(BadRemoteUrl::NoBucket);
                }
                let prefix = url.path().trim_matches('/').to_string();
                Ok(RemoteUrl::S3 { bucket, prefix })
            }
            other => Err(BadRemoteUrl::Scheme(other.to_string())),
        }
    }
}

/// The URL with any user and password left out: what messages show.
impl fmt::Display for RemoteUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RemoteUrl::Http(url) => {
                let mut shown = url.clone();
                let _ = shown.set_username("");
                let _ = shown.set_password(None);
                f.write_str(shown.as_str().trim_end_matches('/'))
            }
            RemoteUrl::S3 { bucket, prefix } if prefix.is_empty() => write!(f, "s3://{bucket}"),
            RemoteUrl::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

impl fmt::Debug for RemoteUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RemoteUrl({self})")
    }
}

/// Whether this run may write to the remote cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    ReadWrite,
    /// `--remote-read-only` or `RTASK_REMOTE_READ_ONLY=1`: never upload (pull requests).
    ReadOnly,
}

/// Where a setting that was refused came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Flag,
    Variable(&'static str),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Flag => f.write_str("--remote-cache"),
            Origin::Variable(name) => f.write_str(name),
        }
    }
}

/// A remote setting from the command line or the environment that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BadSetting {
    #[error("`{origin}` is not a usable remote cache URL: {problem}")]
    Url {
        origin: Origin,
        problem: BadRemoteUrl,
    },
    #[error("`RTASK_REMOTE_TIMEOUT` must be a positive number of seconds, at most 3600")]
    Timeout,
    #[error("`RTASK_REMOTE_HEADER` must look like `Name: value`")]
    Header,
    #[error("cannot address the S3 remote cache: {0}")]
    S3(BadEndpoint),
}

impl BadSetting {
    pub fn hint(&self) -> &'static str {
        match self {
            BadSetting::Url { problem, .. } => problem.hint(),
            BadSetting::Timeout => "for example `RTASK_REMOTE_TIMEOUT=10`",
            BadSetting::Header => "for example `RTASK_REMOTE_HEADER=\"Authorization: Bearer …\"`",
            BadSetting::S3(_) => {
                "set `AWS_ENDPOINT_URL` to the server's URL, as `http://127.0.0.1:8333`"
            }
        }
    }
}

/// An extra request header (its value is a secret).
pub(crate) struct Header {
    pub name: String,
    pub value: String,
}

/// S3 credentials and where to reach S3, from the `AWS_*` variables.
pub(crate) struct Aws {
    pub endpoint: Option<String>,
    pub region: String,
    /// Key id, secret and session token; `None`: anonymous requests.
    pub credentials: Option<(String, String, Option<String>)>,
}

/// Everything a run needs to use a remote cache.
pub struct RemoteConfig {
    pub url: RemoteUrl,
    pub access: Access,
    pub timeout: Duration,
    pub(crate) server: Server,
    pub(crate) signing: Signing,
}

/// The command line's remote choices.
pub struct Requested<'a> {
    pub flag: Option<&'a str>,
    pub read_only: bool,
    /// `[settings] remote_cache`, checked with the task file.
    pub file: Option<&'a RemoteUrl>,
}

impl RemoteConfig {
    /// The remote cache this run uses, if any.
    pub fn resolve(
        requested: &Requested<'_>,
        environment: &Environment,
    ) -> Result<Option<RemoteConfig>, BadSetting> {
        let parse = |text: &str, origin| {
            text.parse::<RemoteUrl>()
                .map_err(|problem| BadSetting::Url { origin, problem })
        };
        let url = match (requested.flag, environment.remote_cache()) {
            (Some(flag), _) => parse(flag, Origin::Flag)?,
            (None, Some(variable)) => parse(variable, Origin::Variable("RTASK_REMOTE_CACHE"))?,
            (None, None) => match requested.file {
                Some(url) => url.clone(),
                None => return Ok(None),
            },
        };
        let timeout = match environment.remote_timeout() {
            None => DEFAULT_TIMEOUT,
            Some(text) => text
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|seconds| seconds.is_finite() && *seconds > 0.0 && *seconds <= MAX_TIMEOUT)
                .map(Duration::from_secs_f64)
                .ok_or(BadSetting::Timeout)?,
        };
        let header = match environment.remote_header() {
            None => None,
            Some(text) => {
                let (name, value) = text.split_once(':').ok_or(BadSetting::Header)?;
                let name = name.trim();
                let token =
                    |byte: u8| byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte);
                let value = value.trim();
                // A field value: visible ASCII, spaces and tabs; never a line break.
                let field = |byte: u8| byte == b'\t' || (b' '..=b'~').contains(&byte);
                if name.is_empty() || !name.bytes().all(token) || !value.bytes().all(field) {
                    return Err(BadSetting::Header);
                }
                Some(Header {
                    name: name.to_string(),
                    value: value.to_string(),
                })
            }
        };
        let access = if requested.read_only || environment.remote_read_only() {
            Access::ReadOnly
        } else {
            Access::ReadWrite
        };
        let server = match &url {
            RemoteUrl::Http(http) => Server::Http(Http::new(http, header.as_ref())),
            RemoteUrl::S3 { bucket, prefix } => {
                Server::S3(S3::new(bucket, prefix, &environment.aws()).map_err(BadSetting::S3)?)
            }
        };
        Ok(Some(RemoteConfig {
            url,
            access,
            timeout,
            server,
            signing: environment.signing(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_display_without_their_password() {
        let url: RemoteUrl = "https://me:hunter2@cache.example:8080/team/"
            .parse()
            .unwrap();
        assert_eq!(url.to_string(), "https://cache.example:8080/team");
        assert!(!format!("{url:?}").contains("hunter2"));
        let s3: RemoteUrl = "s3://bucket/some/prefix".parse().unwrap();
        assert_eq!(
            s3,
            RemoteUrl::S3 {
                bucket: "bucket".to_string(),
                prefix: "some/prefix".to_string()
            }
        );
        assert_eq!(s3.to_string(), "s3://bucket/some/prefix");
    }

    #[test]
    fn other_schemes_and_non_urls_are_refused() {
        assert_eq!(
            "ftp://host/x".parse::<RemoteUrl>(),
            Err(BadRemoteUrl::Scheme("ftp".to_string()))
        );
        assert!(matches!(
            "cache.example".parse::<RemoteUrl>(),
            Err(BadRemoteUrl::Unparsable(_))
        ));
        assert_eq!("s3:///x".parse::<RemoteUrl>(), Err(BadRemoteUrl::NoBucket));
        assert_eq!(
            "http://host/x?y=1".parse::<RemoteUrl>(),
            Err(BadRemoteUrl::Query)
        );
    }
}
