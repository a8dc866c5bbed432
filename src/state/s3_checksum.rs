//! Blobs in S3 with the SHA-256 checksum the store keeps: uploaded with it, and read back
//! without downloading the blob.
//!
//! [`ChecksumClient::put`] uploads a blob with `x-amz-checksum-sha256` (S3 checks the bytes
//! against it and keeps it) and `x-amz-sdk-checksum-algorithm: SHA256`, as the AWS SDKs send
//! them; some S3-compatible servers (moto) keep the checksum only when the algorithm is named,
//! which `object_store`'s own put does not do. [`ChecksumClient::stored`] sends a `HEAD`
//! carrying `x-amz-checksum-mode: ENABLED`, which returns that checksum; `object_store` 0.12
//! cannot send that header on its own `head`. S3 refuses unsigned `x-amz-*` headers, so both
//! requests are built here and signed with `object_store`'s own SigV4 signer
//! ([`AwsAuthorizer`], the one that signs every other request of the store), and sent with
//! `object_store`'s HTTP client. Credentials only go into the signature.
//!
//! A checksum is used only when it is a full-object SHA-256 (32 bytes, base64): a composite
//! checksum of a multipart upload (`…-N`) says nothing about the whole object's hash, so such
//! a blob is downloaded instead, like one uploaded without any checksum.

use std::sync::Arc;

use base64::Engine;
use object_store::aws::{AwsAuthorizer, AwsCredential};
use object_store::client::{
    HttpClient, HttpConnector, HttpRequest, HttpRequestBody, HttpResponse, ReqwestConnector,
};
use object_store::path::Path as ObjPath;

use super::aws_profile::Credentials;

/// The response header holding the checksum.
pub const CHECKSUM_HEADER: &str = "x-amz-checksum-sha256";
/// The request header asking for it.
pub const MODE_HEADER: &str = "x-amz-checksum-mode";
/// The upload header naming the checksum's algorithm.
pub const ALGORITHM_HEADER: &str = "x-amz-sdk-checksum-algorithm";

/// What the store keeps about an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    /// A full-object SHA-256, as lowercase hex.
    Sha256(String),
    /// The object exists but has no usable SHA-256 checksum.
    NoChecksum,
    /// No such object.
    Missing,
}

/// At most this much of an error answer's body is read: S3's error document is a few hundred
/// bytes, and only its `<Code>` is kept. A broken or hostile server cannot make tfops read
/// (and hold) more.
pub const ERROR_BODY_LIMIT: usize = 4096;

/// At most this many characters of an error's text are shown (the text of another library's
/// error may quote a whole answer).
pub const SHOWN_ERROR_LIMIT: usize = 1024;

/// `text` as it may be shown in an error message or a log: every URL in it without its user
/// information (`user:password@`) and without its query (where a presigned URL carries its
/// signature and credential), and no longer than [`SHOWN_ERROR_LIMIT`] characters.
pub fn shown(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(SHOWN_ERROR_LIMIT + 8));
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        out.push_str(&rest[..i + 3]);
        let after = &rest[i + 3..];
        let end = after
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | '(' | ')'))
            .unwrap_or(after.len());
        let url = &after[..end];
        let (url, had_query) = match url.find(['?', '#']) {
            Some(q) => (&url[..q], true),
            None => (url, false),
        };
        let authority_end = url.find('/').unwrap_or(url.len());
        let host_start = url[..authority_end].rfind('@').map_or(0, |a| a + 1);
        out.push_str(&url[host_start..]);
        if had_query {
            out.push_str("?…");
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    if out.chars().count() > SHOWN_ERROR_LIMIT {
        let cut: String = out.chars().take(SHOWN_ERROR_LIMIT).collect();
        return format!("{cut}… (cut)");
    }
    out
}

/// Errors of a request; they name no credential.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("{0}")]
    Request(String),
    #[error("HTTP {status}{}", code.as_ref().map(|c| format!(" ({c})")).unwrap_or_default())]
    Status { status: u16, code: Option<String> },
}

/// Sends checksum `PUT`s and `HEAD`s to one bucket. `Debug` shows no credential.
#[derive(Clone)]
pub struct ChecksumClient {
    client: HttpClient,
    bucket_url: String,
    region: String,
    credential: Option<Arc<AwsCredential>>,
}

impl std::fmt::Debug for ChecksumClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChecksumClient")
            .field("bucket_url", &self.bucket_url)
            .field("region", &self.region)
            .field("signed", &self.credential.is_some())
            .finish()
    }
}

/// Percent-encodes an object key for the URL path as S3's signer expects it: everything but
/// `A-Z a-z 0-9 - . _ ~ /` as `%XX`.
pub fn encode_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The `HEAD` request for `url`, with the checksum mode header, signed for `region` when
/// `credential` is given (else unsigned).
pub fn signed_head(
    url: &str,
    region: &str,
    credential: Option<&AwsCredential>,
) -> Result<HttpRequest, RequestError> {
    let mut req = http::Request::builder()
        .method(http::Method::HEAD)
        .uri(url)
        .header(MODE_HEADER, "ENABLED")
        .body(HttpRequestBody::empty())
        .map_err(|e| RequestError::Request(format!("bad request URL: {e}")))?;
    if let Some(c) = credential {
        AwsAuthorizer::new(c, "s3", region).authorize(&mut req, None);
    }
    Ok(req)
}

/// The `PUT` of `body`, whose SHA-256 is `sha256` (the caller has checked it), with its
/// checksum headers, signed over the payload's hash when `credential` is given. (A body made
/// from bytes is shared, not copied, when cloned for another attempt.)
pub fn signed_put(
    url: &str,
    region: &str,
    credential: Option<&AwsCredential>,
    body: HttpRequestBody,
    sha256: &[u8; 32],
) -> Result<HttpRequest, RequestError> {
    let b64 = base64::engine::general_purpose::STANDARD.encode(sha256);
    let mut req = http::Request::builder()
        .method(http::Method::PUT)
        .uri(url)
        .header(CHECKSUM_HEADER, b64)
        .header(ALGORITHM_HEADER, "SHA256")
        .body(body)
        .map_err(|e| RequestError::Request(format!("bad request URL: {e}")))?;
    if let Some(c) = credential {
        AwsAuthorizer::new(c, "s3", region).authorize(&mut req, Some(sha256));
    }
    Ok(req)
}

/// The `<Code>` of an S3 error document, if any (never anything else of the body): letters
/// and digits, at most 64 of them, as S3's codes are (`BadDigest`, `AccessDenied`…).
fn error_code(body: &[u8]) -> Option<String> {
    let t = String::from_utf8_lossy(body);
    let start = t.find("<Code>")? + "<Code>".len();
    let len = t[start..].find("</Code>")?;
    let code = &t[start..start + len];
    (!code.is_empty() && code.len() <= 64 && code.chars().all(|c| c.is_ascii_alphanumeric()))
        .then(|| code.to_string())
}

/// The start of an answer's body: at most [`ERROR_BODY_LIMIT`] bytes are read, the rest is
/// left unread (the connection is then closed, not reused).
async fn body_start(resp: HttpResponse) -> Vec<u8> {
    use futures::StreamExt;
    let mut body = resp.into_body().bytes_stream();
    let mut out = Vec::new();
    while let Some(Ok(chunk)) = body.next().await {
        let room = ERROR_BODY_LIMIT - out.len();
        out.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if out.len() >= ERROR_BODY_LIMIT {
            break;
        }
    }
    out
}

/// The stored checksum in a response's headers, as hex; `None` when absent or not a
/// full-object SHA-256.
pub fn parse_checksum(value: Option<&str>) -> Option<String> {
    let v = value?.trim();
    let raw = base64::engine::general_purpose::STANDARD.decode(v).ok()?;
    (raw.len() == 32).then(|| raw.iter().map(|b| format!("{b:02x}")).collect())
}

/// Whether an answer is worth another attempt: a 5xx, but not 501 (a store that does not
/// implement the request answers the same every time).
fn transient(status: u16) -> bool {
    status >= 500 && status != 501
}

impl ChecksumClient {
    /// A client for the bucket at `bucket_url` (path-style), with the store's options.
    ///
    /// # Errors
    /// When the HTTP client cannot be built.
    pub fn new(
        bucket_url: String,
        region: String,
        credentials: Option<&Credentials>,
        options: &object_store::ClientOptions,
    ) -> Result<ChecksumClient, object_store::Error> {
        let client = ReqwestConnector::default().connect(options)?;
        let credential = credentials.map(|c| {
            Arc::new(AwsCredential {
                key_id: c.key_id.clone(),
                secret_key: c.secret_key.clone(),
                token: c.token.clone(),
            })
        });
        Ok(ChecksumClient {
            client,
            bucket_url: bucket_url.trim_end_matches('/').to_string(),
            region,
            credential,
        })
    }

    /// The object's URL.
    pub fn url(&self, key: &ObjPath) -> String {
        format!("{}/{}", self.bucket_url, encode_key(key.as_ref()))
    }

    /// What the store keeps for `key`. A failed connection or a 5xx answer (but 501) is
    /// tried again, twice.
    ///
    /// # Errors
    /// When the request fails or the store answers other than 200 or 404.
    pub async fn stored(&self, key: &ObjPath) -> Result<Stored, RequestError> {
        let url = self.url(key);
        let resp = self
            .send(&format!("checksum HEAD of {url}"), || {
                signed_head(&url, &self.region, self.credential.as_deref())
            })
            .await?;
        match resp.status().as_u16() {
            200 => {
                let h = resp
                    .headers()
                    .get(CHECKSUM_HEADER)
                    .and_then(|v| v.to_str().ok());
                Ok(match parse_checksum(h) {
                    Some(hex) => Stored::Sha256(hex),
                    None => Stored::NoChecksum,
                })
            }
            404 => Ok(Stored::Missing),
            status => Err(RequestError::Status { status, code: None }),
        }
    }

    /// Uploads `body` to `key`; `sha256` is its SHA-256 (checked by the caller), which the
    /// store checks and keeps. A failed connection or a 5xx answer (but 501) is tried
    /// again, twice.
    ///
    /// # Errors
    /// When the store refuses (its status and error code) or cannot be reached.
    pub async fn put(
        &self,
        key: &ObjPath,
        body: Vec<u8>,
        sha256: &[u8; 32],
    ) -> Result<(), RequestError> {
        let url = self.url(key);
        let body = HttpRequestBody::from(body);
        let resp = self
            .send(&format!("upload to {url}"), || {
                signed_put(
                    &url,
                    &self.region,
                    self.credential.as_deref(),
                    body.clone(),
                    sha256,
                )
            })
            .await?;
        if resp.status().is_success() {
            return Ok(());
        }
        let status = resp.status().as_u16();
        let body = body_start(resp).await;
        Err(RequestError::Status {
            status,
            code: error_code(&body),
        })
    }

    /// Sends the request `make` builds; when the connection fails or the store answers 5xx
    /// (but 501), again after a pause, three attempts in all. The store's last answer
    /// otherwise.
    async fn send(
        &self,
        what: &str,
        make: impl Fn() -> Result<HttpRequest, RequestError>,
    ) -> Result<HttpResponse, RequestError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let err = match self.client.execute(make()?).await {
                Ok(resp) if !transient(resp.status().as_u16()) || attempt >= 3 => return Ok(resp),
                Ok(resp) => RequestError::Status {
                    status: resp.status().as_u16(),
                    code: None,
                },
                Err(e) => RequestError::Request(shown(&e.to_string())),
            };
            if attempt >= 3 {
                return Err(err);
            }
            log::debug!("{} failed ({err}); trying again", shown(what));
            tokio::time::sleep(std::time::Duration::from_millis(500 * attempt)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    // An independent SigV4 check (written from AWS's documentation of the algorithm), proved
    // on AWS's published example, then used to check the HEAD this module signs.

    fn sha_hex(b: &[u8]) -> String {
        crate::fsutil::hex(&Sha256::digest(b))
    }

    fn hmac(key: &[u8], msg: &[u8]) -> Vec<u8> {
        let mut k = [0u8; 64];
        if key.len() > 64 {
            k[..32].copy_from_slice(&Sha256::digest(key));
        } else {
            k[..key.len()].copy_from_slice(key);
        }
        let mut inner = Sha256::new();
        inner.update(k.iter().map(|b| b ^ 0x36).collect::<Vec<_>>());
        inner.update(msg);
        let mut outer = Sha256::new();
        outer.update(k.iter().map(|b| b ^ 0x5c).collect::<Vec<_>>());
        outer.update(inner.finalize());
        outer.finalize().to_vec()
    }

    /// The signature of a request given as method, path, query, (lowercase name, value)
    /// headers to sign, payload hash, date time, region, secret.
    #[allow(clippy::too_many_arguments)]
    fn sigv4(
        method: &str,
        path: &str,
        query: &str,
        headers: &[(String, String)],
        payload_hash: &str,
        amz_date: &str,
        region: &str,
        secret: &str,
    ) -> String {
        let mut h = headers.to_vec();
        h.sort();
        let canonical_headers: String = h
            .iter()
            .map(|(k, v)| format!("{k}:{}\n", v.trim()))
            .collect();
        let signed: Vec<&str> = h.iter().map(|(k, _)| k.as_str()).collect();
        let creq = format!(
            "{method}\n{path}\n{query}\n{canonical_headers}\n{}\n{payload_hash}",
            signed.join(";")
        );
        let day = &amz_date[..8];
        let scope = format!("{day}/{region}/s3/aws4_request");
        let sts = format!(
            "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
            sha_hex(creq.as_bytes())
        );
        let k = hmac(format!("AWS4{secret}").as_bytes(), day.as_bytes());
        let k = hmac(&k, region.as_bytes());
        let k = hmac(&k, b"s3");
        let k = hmac(&k, b"aws4_request");
        crate::fsutil::hex(&hmac(&k, sts.as_bytes()))
    }

    #[test]
    fn the_check_reproduces_aws_published_get_object_example() {
        // AWS S3 API reference, "Signature Calculations for the Authorization Header:
        // Transferring Payload in a Single Chunk", example "GET Object".
        let empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let headers = vec![
            (
                "host".to_string(),
                "examplebucket.s3.amazonaws.com".to_string(),
            ),
            ("range".to_string(), "bytes=0-9".to_string()),
            ("x-amz-content-sha256".to_string(), empty.to_string()),
            ("x-amz-date".to_string(), "20130524T000000Z".to_string()),
        ];
        let sig = sigv4(
            "GET",
            "/test.txt",
            "",
            &headers,
            empty,
            "20130524T000000Z",
            "us-east-1",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        );
        assert_eq!(
            sig,
            "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
    }

    #[test]
    fn the_head_is_signed_over_the_checksum_mode_header() {
        let cred = AwsCredential {
            key_id: "AKIAIOSFODNN7EXAMPLE".into(),
            secret_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
            token: Some("session-token".into()),
        };
        let url = format!(
            "http://127.0.0.1:9000/replica/{}",
            encode_key("team a/default/blobs/ab12")
        );
        let req = signed_head(&url, "eu-west-1", Some(&cred)).unwrap();
        assert_eq!(req.method(), http::Method::HEAD);
        assert_eq!(req.uri().path(), "/replica/team%20a/default/blobs/ab12");
        let hv = |k: &str| req.headers().get(k).unwrap().to_str().unwrap().to_string();
        assert_eq!(hv(MODE_HEADER), "ENABLED");
        let auth = hv("authorization");
        let signed_part = auth.split("SignedHeaders=").nth(1).unwrap();
        let names: Vec<&str> = signed_part.split(',').next().unwrap().split(';').collect();
        assert!(names.contains(&MODE_HEADER), "{auth}");
        assert!(names.contains(&"x-amz-security-token"), "{auth}");
        let date = hv("x-amz-date");
        assert!(
            auth.contains(&format!(
                "Credential=AKIAIOSFODNN7EXAMPLE/{}/eu-west-1/s3/aws4_request",
                &date[..8]
            )),
            "{auth}"
        );
        let headers: Vec<(String, String)> = names.iter().map(|n| (n.to_string(), hv(n))).collect();
        let expected = sigv4(
            "HEAD",
            req.uri().path(),
            "",
            &headers,
            &hv("x-amz-content-sha256"),
            &date,
            "eu-west-1",
            &cred.secret_key,
        );
        let got = auth.split("Signature=").nth(1).unwrap();
        assert_eq!(got, expected);
        // The secret itself is nowhere in the request.
        for (_, v) in req.headers() {
            assert!(!v.to_str().unwrap().contains("wJalrXUtnFEMI"));
        }
        // Without credentials: unsigned, still asking for the checksum.
        let req = signed_head(&url, "eu-west-1", None).unwrap();
        assert!(req.headers().get("authorization").is_none());
        assert!(req.headers().get(MODE_HEADER).is_some());
    }

    #[test]
    fn the_put_carries_and_signs_the_checksum_and_its_algorithm() {
        let cred = AwsCredential {
            key_id: "AKIAIOSFODNN7EXAMPLE".into(),
            secret_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
            token: None,
        };
        let body = b"state bytes".to_vec();
        let sha: [u8; 32] = Sha256::digest(&body).into();
        let req = signed_put(
            "http://h:1/b/k",
            "us-east-1",
            Some(&cred),
            HttpRequestBody::from(body),
            &sha,
        )
        .unwrap();
        let hv = |k: &str| req.headers().get(k).unwrap().to_str().unwrap().to_string();
        assert_eq!(
            hv(CHECKSUM_HEADER),
            base64::engine::general_purpose::STANDARD.encode(sha)
        );
        assert_eq!(hv(ALGORITHM_HEADER), "SHA256");
        assert_eq!(hv("x-amz-content-sha256"), crate::fsutil::hex(&sha));
        let auth = hv("authorization");
        let names: Vec<&str> = auth
            .split("SignedHeaders=")
            .nth(1)
            .unwrap()
            .split(',')
            .next()
            .unwrap()
            .split(';')
            .collect();
        let headers: Vec<(String, String)> = names.iter().map(|n| (n.to_string(), hv(n))).collect();
        assert!(names.contains(&CHECKSUM_HEADER) && names.contains(&ALGORITHM_HEADER));
        let expected = sigv4(
            "PUT",
            "/b/k",
            "",
            &headers,
            &crate::fsutil::hex(&sha),
            &hv("x-amz-date"),
            "us-east-1",
            &cred.secret_key,
        );
        assert_eq!(auth.split("Signature=").nth(1).unwrap(), expected);
        assert_eq!(
            error_code(b"<Error><Code>BadDigest</Code><Message>x</Message></Error>").as_deref(),
            Some("BadDigest")
        );
        assert_eq!(error_code(b"<Code>a b</Code>"), None);
    }

    /// A loopback HTTP server that answers one request per connection with `answers` in
    /// turn; returns its URL and the number of requests served.
    fn answering(answers: Vec<String>) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
        use std::io::{Read, Write};
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", l.local_addr().unwrap());
        let served = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = Arc::clone(&served);
        std::thread::spawn(move || {
            for a in answers {
                let Ok((mut c, _)) = l.accept() else { return };
                let mut got = Vec::new();
                let mut b = [0u8; 4096];
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match c.read(&mut b) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => got.extend_from_slice(&b[..n]),
                    }
                }
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let _ = c.write_all(a.as_bytes());
            }
        });
        (url, served)
    }

    #[tokio::test]
    async fn a_checksum_head_answered_5xx_is_tried_again() {
        let sha = Sha256::digest(b"blob");
        let b64 = base64::engine::general_purpose::STANDARD.encode(sha);
        let (url, served) = answering(vec![
            "HTTP/1.1 503 Slow Down\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".into(),
            format!("HTTP/1.1 200 OK\r\n{CHECKSUM_HEADER}: {b64}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"),
        ]);
        let (opts, _) = crate::state::remote::client_options();
        let c =
            ChecksumClient::new(format!("{url}/bucket"), "us-east-1".into(), None, &opts).unwrap();
        let got = c.stored(&ObjPath::from("ws/blobs/x")).await.unwrap();
        assert_eq!(got, Stored::Sha256(crate::fsutil::hex(&sha)));
        assert_eq!(served.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_checksum_head_answered_501_is_an_error_at_once_naming_the_status() {
        let (url, served) = answering(vec![
            "HTTP/1.1 501 Not Implemented\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".into(),
            "HTTP/1.1 501 Not Implemented\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".into(),
        ]);
        let (opts, _) = crate::state::remote::client_options();
        let c =
            ChecksumClient::new(format!("{url}/bucket"), "us-east-1".into(), None, &opts).unwrap();
        let e = c.stored(&ObjPath::from("ws/blobs/x")).await.unwrap_err();
        assert_eq!(e.to_string(), "HTTP 501");
        // Not implemented is not worth asking again.
        assert_eq!(served.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    /// A store refusing a PUT with an endless error body: tfops reads only the start of it
    /// (enough for the error code), not the 64 MiB announced.
    #[tokio::test]
    async fn a_refused_put_reads_only_the_start_of_the_error_body() {
        use std::io::{Read, Write};
        const ANNOUNCED: usize = 64 << 20;
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", l.local_addr().unwrap());
        let server = std::thread::spawn(move || {
            let (mut c, _) = l.accept().unwrap();
            let mut got = Vec::new();
            let mut b = [0u8; 4096];
            // The request's head and its 11-byte body.
            while !got.windows(4).any(|w| w == b"\r\n\r\n") || got.ends_with(b"\r\n\r\n") {
                match c.read(&mut b) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got.extend_from_slice(&b[..n]),
                }
            }
            let doc = b"<Error><Code>InvalidRequest</Code><Message>";
            let head = format!("HTTP/1.1 400 Bad Request\r\ncontent-length: {ANNOUNCED}\r\n\r\n");
            let mut sent = 0usize;
            if c.write_all(head.as_bytes()).is_err() || c.write_all(doc).is_err() {
                return sent;
            }
            sent += doc.len();
            let filler = vec![b'x'; 64 << 10];
            while sent < ANNOUNCED {
                let n = filler.len().min(ANNOUNCED - sent);
                if c.write_all(&filler[..n]).is_err() {
                    break;
                }
                sent += n;
            }
            sent
        });
        let (opts, _) = crate::state::remote::client_options();
        let c =
            ChecksumClient::new(format!("{url}/bucket"), "us-east-1".into(), None, &opts).unwrap();
        let body = b"state bytes".to_vec();
        let sha: [u8; 32] = Sha256::digest(&body).into();
        let e = c
            .put(&ObjPath::from("ws/blobs/x"), body, &sha)
            .await
            .unwrap_err();
        assert_eq!(e.to_string(), "HTTP 400 (InvalidRequest)");
        drop(c);
        let sent = tokio::task::spawn_blocking(move || server.join().unwrap())
            .await
            .unwrap();
        assert!(
            sent < ANNOUNCED,
            "the whole error body was read: {sent} bytes"
        );
    }

    #[test]
    fn shown_errors_carry_no_user_information_nor_query_and_are_bounded() {
        let t = shown(
            "error sending request for url (http://AKIAUSER:s3cr3t@127.0.0.1:9/b/k?X-Amz-Credential=AKIAQ&X-Amz-Signature=5ig) and https://h/x?y#z",
        );
        assert_eq!(
            t,
            "error sending request for url (http://127.0.0.1:9/b/k?…) and https://h/x?…"
        );
        assert_eq!(shown("no url here"), "no url here");
        assert_eq!(
            shown("s3://bucket/prefix: HTTP 403"),
            "s3://bucket/prefix: HTTP 403"
        );
        let long = shown(&"é".repeat(5000));
        assert_eq!(
            long.chars().count(),
            SHOWN_ERROR_LIMIT + "… (cut)".chars().count()
        );
        assert_eq!(
            error_code(format!("<Code>{}</Code>", "A".repeat(65)).as_bytes()),
            None
        );
    }

    /// An endpoint written with user information (`http://user:password@host`) that cannot
    /// be reached: the error names neither. (A guard: the HTTP client already leaves them out
    /// of its own message; `shown` makes sure of it.)
    #[tokio::test]
    async fn a_failed_request_does_not_show_the_endpoints_user_information() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let (opts, _) = crate::state::remote::client_options();
        let c = ChecksumClient::new(
            format!("http://AKIAUSERINFO:s3cr3tPassw0rd@127.0.0.1:{port}/bucket"),
            "us-east-1".into(),
            None,
            &opts,
        )
        .unwrap();
        let e = c.stored(&ObjPath::from("ws/blobs/x")).await.unwrap_err();
        let t = format!("{e} {e:?}");
        assert!(matches!(e, RequestError::Request(_)), "{t}");
        assert!(
            !t.contains("s3cr3tPassw0rd") && !t.contains("AKIAUSERINFO"),
            "{t}"
        );
    }

    #[test]
    fn only_a_full_object_sha256_counts() {
        let sha = Sha256::digest(b"hello");
        let b64 = base64::engine::general_purpose::STANDARD.encode(sha);
        assert_eq!(
            parse_checksum(Some(&b64)).unwrap(),
            crate::fsutil::hex(&sha)
        );
        assert_eq!(parse_checksum(Some(&format!("{b64}-3"))), None);
        assert_eq!(parse_checksum(Some("AAAA")), None);
        assert_eq!(parse_checksum(None), None);
        assert_eq!(encode_key("a b/c+d~e"), "a%20b/c%2Bd~e");
    }
}
