//! S3 (AWS Signature V4, path-style): the same `ac/` and `cas/` objects under the URL's
//! prefix, each request presigned with `rusty-s3` and sent with the one HTTP agent.

use std::time::Duration;

use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};
use url::Url;

use super::config::Aws;
use super::transfer::{Method, Prepared};

/// How long a presigned request stays valid; it is sent at once.
const VALID_FOR: Duration = Duration::from_secs(15 * 60);

pub(crate) struct S3 {
    bucket: Bucket,
    credentials: Option<Credentials>,
    /// Object names start with it (and a `/`) when it is not empty.
    prefix: String,
}

/// Why S3 cannot be addressed with the `AWS_*` settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BadEndpoint {
    #[error("`AWS_ENDPOINT_URL` is not an http(s) URL with a host")]
    Endpoint,
    #[error("the bucket name cannot be used in a URL")]
    Bucket,
}

impl S3 {
    pub(crate) fn new(bucket: &str, prefix: &str, aws: &Aws) -> Result<S3, BadEndpoint> {
        let endpoint = match &aws.endpoint {
            Some(endpoint) => Url::parse(endpoint).map_err(|_| BadEndpoint::Endpoint)?,
            None => Url::parse(&format!("https://s3.{}.amazonaws.com", aws.region))
                .map_err(|_| BadEndpoint::Endpoint)?,
        };
        if !matches!(endpoint.scheme(), "http" | "https") || endpoint.host_str().is_none() {
            return Err(BadEndpoint::Endpoint);
        }
        let bucket = Bucket::new(
            endpoint,
            UrlStyle::Path,
            bucket.to_string(),
            aws.region.clone(),
        )
        .map_err(|_| BadEndpoint::Bucket)?;
        let credentials = aws
            .credentials
            .as_ref()
            .map(|(key, secret, token)| match token {
                Some(token) => Credentials::new_with_token(key, secret, token),
                None => Credentials::new(key, secret),
            });
        Ok(S3 {
            bucket,
            credentials,
            prefix: prefix.to_string(),
        })
    }

    pub(crate) fn prepare(&self, method: Method, path: &str) -> Prepared {
        let object = if self.prefix.is_empty() {
            path.to_string()
        } else {
            format!("{}/{path}", self.prefix)
        };
        let credentials = self.credentials.as_ref();
        let url = match method {
            Method::Get => self.bucket.get_object(credentials, &object).sign(VALID_FOR),
            Method::Head => self
                .bucket
                .head_object(credentials, &object)
                .sign(VALID_FOR),
            Method::Put => self.bucket.put_object(credentials, &object).sign(VALID_FOR),
        };
        Prepared {
            url: url.to_string(),
            headers: Vec::new(),
        }
    }
}
