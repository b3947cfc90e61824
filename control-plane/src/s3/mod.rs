//! The emulated Amazon S3's protocol: REST-XML with path-style addressing (`/<bucket>` and
//! `/<bucket>/<key>`), on the emulator's one listener.
//!
//! A request is S3's when the credential scope of its SigV4 `Authorization` header names the
//! service `s3` (see `api.rs`); it is verified with S3's canonicalisation (path as sent, signed
//! `x-amz-content-sha256`), parsed into an [`Op`] by pure functions, run on the S3 actor
//! (`s3_store.rs`) and answered in S3's XML. Served: ListBuckets, CreateBucket, HeadBucket,
//! GetBucketLocation, DeleteBucket, ListObjectsV2, PutObject, GetObject (with Range),
//! HeadObject, DeleteObject, DeleteObjects. Not served (501 NotImplemented): virtual-hosted
//! addressing, presigned URLs, multipart uploads, CopyObject, aws-chunked bodies, ACLs, tagging,
//! versioning and the other subresources.
//!
//! What it must not do: log object bodies (environment files carry secrets).

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

pub mod error;
pub mod store;

use futures_util::future::BoxFuture;

pub use crate::front::render::xml_escape;
use crate::front::sigv4::Flavor;
use crate::front::{
    ApiError, Input, Output, Protocol, Refusal, RequestContext, Service, ServiceInfo,
};
pub use error::{S3Code, S3Error, error_xml};
use store::{BucketMeta, ListParams, Listing, MAX_OBJECT_SIZE, ObjectMeta, S3Handle};

const XMLNS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

/// An S3 operation, parsed from method, path and query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// `GET /`.
    ListBuckets,
    /// `PUT /<bucket>`.
    CreateBucket { bucket: String },
    /// `HEAD /<bucket>`.
    HeadBucket { bucket: String },
    /// `GET /<bucket>?location`.
    GetBucketLocation { bucket: String },
    /// `DELETE /<bucket>`.
    DeleteBucket { bucket: String },
    /// `GET /<bucket>` (`list-type=2`; V1 listings are answered the same way).
    ListObjectsV2 {
        bucket: String,
        params: ListParams,
        /// `encoding-type=url`: keys and prefixes come back percent-encoded.
        url_encoded: bool,
        /// The continuation token as sent, echoed back.
        token: Option<String>,
        start_after: Option<String>,
    },
    /// `POST /<bucket>?delete`.
    DeleteObjects { bucket: String },
    /// `PUT /<bucket>/<key>`.
    PutObject { bucket: String, key: String },
    /// `GET /<bucket>/<key>`.
    GetObject { bucket: String, key: String },
    /// `HEAD /<bucket>/<key>`.
    HeadObject { bucket: String, key: String },
    /// `DELETE /<bucket>/<key>`.
    DeleteObject { bucket: String, key: String },
}

/// Subresources of S3 this emulator does not serve: asking for one is `NotImplemented`, not
/// a silently wrong answer from the plain operation.
const UNSERVED_SUBRESOURCES: &[&str] = &[
    "accelerate",
    "acl",
    "analytics",
    "attributes",
    "cors",
    "encryption",
    "intelligent-tiering",
    "inventory",
    "legal-hold",
    "lifecycle",
    "logging",
    "metrics",
    "notification",
    "object-lock",
    "ownershipControls",
    "policy",
    "policyStatus",
    "publicAccessBlock",
    "replication",
    "requestPayment",
    "restore",
    "retention",
    "select",
    "tagging",
    "torrent",
    "uploadId",
    "uploads",
    "versionId",
    "versioning",
    "versions",
    "website",
];

/// Splits a raw (percent-encoded) path into bucket and key, decoding each.
pub fn split_path(path: &str) -> Result<(Option<String>, Option<String>), S3Error> {
    let decode = |s: &str| {
        percent_decode_str(s)
            .decode_utf8()
            .map(|c| c.into_owned())
            .map_err(|_| {
                S3Error::new(S3Code::InvalidURI, "Couldn't parse the specified URI.")
                    .resource(path.to_string())
            })
    };
    let rest = path.strip_prefix('/').unwrap_or(path);
    let (bucket, key) = match rest.split_once('/') {
        Some((b, k)) => (b, k),
        None => (rest, ""),
    };
    let bucket = (!bucket.is_empty()).then(|| decode(bucket)).transpose()?;
    let key = (!key.is_empty()).then(|| decode(key)).transpose()?;
    Ok((bucket, key))
}

/// Parses a request line into an operation.
pub fn parse_op(method: &Method, path: &str, query: &str) -> Result<Op, S3Error> {
    let q: Vec<(String, String)> = serde_urlencoded::from_str(query).map_err(|_| {
        S3Error::new(
            S3Code::InvalidArgument,
            "The query string cannot be parsed.",
        )
    })?;
    let get = |name: &str| q.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    if let Some((name, _)) = q
        .iter()
        .find(|(k, _)| UNSERVED_SUBRESOURCES.contains(&k.as_str()))
    {
        return Err(S3Error::not_implemented(&format!(
            "The subresource '{name}'"
        )));
    }
    let (bucket, key) = split_path(path)?;
    let not_allowed = || {
        S3Error::new(
            S3Code::MethodNotAllowed,
            "The specified method is not allowed against this resource.",
        )
    };
    let op = match (bucket, key) {
        (None, _) if *method == Method::GET => Op::ListBuckets,
        (None, _) => return Err(not_allowed()),
        (Some(bucket), None) => match *method {
            Method::PUT => Op::CreateBucket { bucket },
            Method::HEAD => Op::HeadBucket { bucket },
            Method::DELETE => Op::DeleteBucket { bucket },
            Method::POST if get("delete").is_some() => Op::DeleteObjects { bucket },
            Method::GET if get("location").is_some() => Op::GetBucketLocation { bucket },
            Method::GET => {
                let max_keys = match get("max-keys") {
                    None => 1000,
                    Some(v) => v.parse::<usize>().map_err(|_| {
                        S3Error::new(
                            S3Code::InvalidArgument,
                            "Provided max-keys not an integer or within integer range",
                        )
                    })?,
                }
                .min(1000);
                let token = get("continuation-token");
                let start_after = get("start-after").or_else(|| get("marker"));
                let after = match &token {
                    Some(t) => Some(decode_token(t)?),
                    None => start_after.clone(),
                };
                Op::ListObjectsV2 {
                    bucket,
                    params: ListParams {
                        prefix: get("prefix").unwrap_or_default(),
                        delimiter: get("delimiter").filter(|d| !d.is_empty()),
                        max_keys,
                        after,
                    },
                    url_encoded: get("encoding-type").as_deref() == Some("url"),
                    token,
                    start_after,
                }
            }
            _ => return Err(not_allowed()),
        },
        (Some(bucket), Some(key)) => match *method {
            Method::PUT => Op::PutObject { bucket, key },
            Method::GET => Op::GetObject { bucket, key },
            Method::HEAD => Op::HeadObject { bucket, key },
            Method::DELETE => Op::DeleteObject { bucket, key },
            Method::POST => return Err(S3Error::not_implemented("POST on an object")),
            _ => return Err(not_allowed()),
        },
    };
    Ok(op)
}

/// Whether S3 would accept `name` as a new bucket's name (3 to 63 lowercase letters, digits,
/// dots and hyphens, starting and ending with a letter or digit).
pub fn valid_bucket_name(name: &str) -> bool {
    let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-';
    let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    (3..=63).contains(&name.len())
        && name.chars().all(ok_char)
        && edge(name.chars().next())
        && edge(name.chars().last())
        && !name.contains("..")
}

fn encode_token(last: &str) -> String {
    hex::encode(last)
}

fn decode_token(token: &str) -> Result<String, S3Error> {
    hex::decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| {
            S3Error::new(
                S3Code::InvalidArgument,
                "The continuation token provided is incorrect",
            )
        })
}

/// A `Range: bytes=..` header resolved against an object of `size` bytes: the inclusive
/// range to send, `Ok(None)` for the whole object (no header, or one the emulator ignores as
/// S3 does: several ranges, another unit).
pub fn parse_range(header: Option<&str>, size: u64) -> Result<Option<(u64, u64)>, S3Error> {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((a, b)) = spec.split_once('-') else {
        return Ok(None);
    };
    let unsatisfiable = || {
        S3Error::new(
            S3Code::InvalidRange,
            "The requested range is not satisfiable",
        )
    };
    let range = match (a.trim().parse::<u64>().ok(), b.trim().parse::<u64>().ok()) {
        (Some(start), end) => {
            if start >= size {
                return Err(unsatisfiable());
            }
            (start, end.map_or(size - 1, |e| e.min(size - 1)))
        }
        (None, Some(suffix)) => {
            if suffix == 0 || size == 0 {
                return Err(unsatisfiable());
            }
            (size.saturating_sub(suffix), size - 1)
        }
        (None, None) => return Ok(None),
    };
    if range.0 > range.1 {
        return Ok(None);
    }
    Ok(Some(range))
}

fn xml_unescape(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let end = rest[i..].find(';')? + i;
        let entity = &rest[i + 1..end];
        let c = match entity {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let n = if let Some(h) = entity.strip_prefix("#x") {
                    u32::from_str_radix(h, 16).ok()?
                } else {
                    entity.strip_prefix('#')?.parse().ok()?
                };
                char::from_u32(n)?
            }
        };
        out.push(c);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    Some(out)
}

/// The text of every `<tag>..</tag>` in `xml`, unescaped, in order. Enough for the two
/// request bodies the emulator reads (CreateBucketConfiguration, Delete), which have no
/// attributes or nesting on the elements read.
pub fn element_texts(xml: &str, tag: &str) -> Result<Vec<String>, S3Error> {
    let malformed = || {
        S3Error::new(
            S3Code::MalformedXML,
            "The XML you provided was not well-formed or did not validate against our published schema",
        )
    };
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(i) = rest.find(&open) {
        let after = &rest[i + open.len()..];
        let end = after.find(&close).ok_or_else(malformed)?;
        out.push(xml_unescape(&after[..end]).ok_or_else(malformed)?);
        rest = &after[end + close.len()..];
    }
    Ok(out)
}

/// `2009-10-12T17:50:30.000Z`, as S3's XML writes timestamps.
pub fn iso8601(secs: i64) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].000Z");
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| t.format(format).ok())
        .unwrap_or_default()
}

fn http_date(secs: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs.max(0).unsigned_abs());
    httpdate::fmt_http_date(t)
}

/// Percent-encoding of `encoding-type=url` (botocore decodes with `unquote_plus`, so spaces and
/// plus signs must both be encoded).
const URL_ENCODING: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

fn owner_xml(account: &str) -> String {
    format!("<Owner><ID>{account}</ID><DisplayName>{account}</DisplayName></Owner>")
}

/// ListAllMyBucketsResult.
pub fn list_buckets_xml(account: &str, buckets: &[(String, BucketMeta)]) -> String {
    let mut xml = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><ListAllMyBucketsResult xmlns="{XMLNS}">{}<Buckets>"#,
        owner_xml(account)
    );
    for (name, meta) in buckets {
        xml.push_str(&format!(
            "<Bucket><Name>{}</Name><CreationDate>{}</CreationDate><BucketRegion>{}</BucketRegion></Bucket>",
            xml_escape(name),
            iso8601(meta.created),
            xml_escape(&meta.region)
        ));
    }
    xml.push_str("</Buckets></ListAllMyBucketsResult>");
    xml
}

/// What ListObjectsV2 echoes of its request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListEcho<'a> {
    /// Bucket name.
    pub bucket: &'a str,
    /// The selection.
    pub params: &'a ListParams,
    /// `encoding-type=url`.
    pub url_encoded: bool,
    /// The continuation token sent.
    pub token: Option<&'a str>,
    /// StartAfter sent.
    pub start_after: Option<&'a str>,
}

/// ListBucketResult (V2).
pub fn list_objects_xml(echo: &ListEcho<'_>, page: &Listing) -> String {
    let enc = |s: &str| {
        if echo.url_encoded {
            utf8_percent_encode(s, URL_ENCODING).to_string()
        } else {
            xml_escape(s)
        }
    };
    let mut xml = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="{XMLNS}"><Name>{}</Name><Prefix>{}</Prefix>"#,
        xml_escape(echo.bucket),
        enc(&echo.params.prefix)
    );
    if let Some(d) = &echo.params.delimiter {
        xml.push_str(&format!("<Delimiter>{}</Delimiter>", enc(d)));
    }
    xml.push_str(&format!(
        "<MaxKeys>{}</MaxKeys><KeyCount>{}</KeyCount><IsTruncated>{}</IsTruncated>",
        echo.params.max_keys,
        page.contents.len() + page.common_prefixes.len(),
        page.truncated
    ));
    if echo.url_encoded {
        xml.push_str("<EncodingType>url</EncodingType>");
    }
    if let Some(t) = echo.token {
        xml.push_str(&format!(
            "<ContinuationToken>{}</ContinuationToken>",
            xml_escape(t)
        ));
    }
    if page.truncated
        && let Some(last) = &page.last
    {
        xml.push_str(&format!(
            "<NextContinuationToken>{}</NextContinuationToken>",
            encode_token(last)
        ));
    }
    if let Some(s) = echo.start_after {
        xml.push_str(&format!("<StartAfter>{}</StartAfter>", enc(s)));
    }
    for (key, meta) in &page.contents {
        xml.push_str(&format!(
            "<Contents><Key>{}</Key><LastModified>{}</LastModified><ETag>{}</ETag><Size>{}</Size><StorageClass>STANDARD</StorageClass></Contents>",
            enc(key),
            iso8601(meta.last_modified),
            xml_escape(&meta.etag),
            meta.size
        ));
    }
    for p in &page.common_prefixes {
        xml.push_str(&format!(
            "<CommonPrefixes><Prefix>{}</Prefix></CommonPrefixes>",
            enc(p)
        ));
    }
    xml.push_str("</ListBucketResult>");
    xml
}

/// DeleteResult (every key reported deleted, as S3 does for absent keys too).
pub fn delete_result_xml(keys: &[String], quiet: bool) -> String {
    let mut xml =
        format!(r#"<?xml version="1.0" encoding="UTF-8"?><DeleteResult xmlns="{XMLNS}">"#);
    if !quiet {
        for k in keys {
            xml.push_str(&format!("<Deleted><Key>{}</Key></Deleted>", xml_escape(k)));
        }
    }
    xml.push_str("</DeleteResult>");
    xml
}

fn now_secs() -> i64 {
    crate::front::context::now_secs() as i64
}

/// The response under construction: status, headers, body.
struct Answer {
    status: StatusCode,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn empty(status: StatusCode) -> Self {
        Answer {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    fn xml(xml: String) -> Self {
        Answer {
            status: StatusCode::OK,
            headers: vec![("content-type", "application/xml".to_string())],
            body: xml.into_bytes(),
        }
    }

    fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}

fn object_headers(a: Answer, meta: &ObjectMeta) -> Answer {
    a.header("etag", meta.etag.clone())
        .header("last-modified", http_date(meta.last_modified))
        .header("content-type", meta.content_type.clone())
        .header("accept-ranges", "bytes")
}

/// The emulated S3 (path-style, REST-XML), recognised by its SigV4 scope's service `s3`.
#[derive(Debug, Clone)]
pub struct S3 {
    objects: S3Handle,
    account_id: String,
    region: String,
}

impl S3 {
    /// S3 of `account_id` over the object store actor `objects`; new buckets default to `region`.
    pub fn new(
        objects: S3Handle,
        account_id: impl Into<String>,
        region: impl Into<String>,
    ) -> Self {
        S3 {
            objects,
            account_id: account_id.into(),
            region: region.into(),
        }
    }
}

/// S3's request ids are 16 upper-case hex digits or so; the front's UUID, spelled that way.
fn s3_request_id(request_id: &str) -> String {
    request_id.replace('-', "").to_uppercase()
}

impl Service for S3 {
    fn info(&self) -> ServiceInfo {
        ServiceInfo {
            name: "s3",
            signing_name: "s3",
            protocol: Protocol::RestByScope,
            flavor: Flavor::S3,
            max_body: MAX_OBJECT_SIZE,
        }
    }

    fn call(&self, ctx: RequestContext, input: Input) -> BoxFuture<'_, Result<Output, ApiError>> {
        Box::pin(async move {
            let Input::Http(request) = input else {
                return Err(ApiError::server("S3 takes REST requests."));
            };
            let (parts, body) = request.into_parts();
            let is_head = parts.method == Method::HEAD;
            let result = serve(self, &parts.method, &parts.uri, &parts.headers, &body).await;
            Ok(Output::Http(respond(&ctx.request_id, is_head, result)))
        })
    }

    fn refuse(&self, request_id: &str, method: &Method, refusal: Refusal) -> Response {
        let e = match refusal {
            Refusal::Auth(failure) => S3Error::from(failure),
            Refusal::BodyTooLarge { .. } => S3Error::new(
                S3Code::EntityTooLarge,
                format!(
                    "Your proposed upload exceeds the maximum allowed size of this emulator ({MAX_OBJECT_SIZE} bytes)."
                ),
            ),
            Refusal::Malformed(e) => S3Error::new(S3Code::InvalidArgument, e.message),
        };
        respond(request_id, method == Method::HEAD, Err(e))
    }
}

/// The response for an S3 answer or error.
fn respond(request_id: &str, is_head: bool, result: Result<Answer, S3Error>) -> Response {
    let request_id = s3_request_id(request_id);
    let answer = match result {
        Ok(a) => a,
        Err(e) => {
            tracing::debug!(code = e.code.as_str(), message = %e.message, "s3 request refused");
            let body = if is_head {
                Vec::new()
            } else {
                error_xml(&e, &request_id).into_bytes()
            };
            Answer {
                status: e.code.status(),
                headers: vec![("content-type", "application/xml".to_string())],
                body,
            }
        }
    };
    let len = answer.body.len();
    let mut resp = if is_head {
        answer.status.into_response()
    } else {
        (answer.status, Body::from(answer.body)).into_response()
    };
    let h = resp.headers_mut();
    for (name, value) in answer.headers {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    }
    if !is_head || !h.contains_key("content-length") {
        h.insert("content-length", HeaderValue::from(len));
    }
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        h.insert("x-amz-request-id", v.clone());
        h.insert("x-amz-id-2", v);
    }
    resp
}

async fn serve(
    app: &S3,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Answer, S3Error> {
    let op = parse_op(method, uri.path(), uri.query().unwrap_or_default())?;
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if header("content-encoding").is_some_and(|e| e.contains("aws-chunked")) {
        return Err(S3Error::not_implemented("aws-chunked content encoding"));
    }
    let s3 = &app.objects;
    tracing::debug!(op = ?op_name(&op), "s3 request");
    let answer = match op {
        Op::ListBuckets => {
            let buckets = s3.call(|s| Ok(s.list_buckets())).await?;
            Answer::xml(list_buckets_xml(&app.account_id, &buckets))
        }
        Op::CreateBucket { bucket } => {
            if !valid_bucket_name(&bucket) {
                return Err(S3Error::new(
                    S3Code::InvalidBucketName,
                    "The specified bucket is not valid.",
                )
                .resource(format!("/{bucket}")));
            }
            let text = std::str::from_utf8(body).map_err(|_| {
                S3Error::new(S3Code::MalformedXML, "The XML you provided was not UTF-8")
            })?;
            let region = element_texts(text, "LocationConstraint")?
                .into_iter()
                .next()
                .filter(|r| !r.is_empty())
                .unwrap_or_else(|| app.region.clone());
            let now = now_secs();
            let b = bucket.clone();
            s3.call(move |s| s.create_bucket(&b, &region, now)).await?;
            Answer::empty(StatusCode::OK).header("location", format!("/{bucket}"))
        }
        Op::HeadBucket { bucket } => {
            let meta = s3.call(move |s| s.head_bucket(&bucket)).await?;
            Answer::empty(StatusCode::OK).header("x-amz-bucket-region", meta.region)
        }
        Op::GetBucketLocation { bucket } => {
            let meta = s3.call(move |s| s.head_bucket(&bucket)).await?;
            // us-east-1 is written as an empty constraint.
            let region = if meta.region == "us-east-1" {
                String::new()
            } else {
                xml_escape(&meta.region)
            };
            Answer::xml(format!(
                r#"<?xml version="1.0" encoding="UTF-8"?><LocationConstraint xmlns="{XMLNS}">{region}</LocationConstraint>"#
            ))
        }
        Op::DeleteBucket { bucket } => {
            s3.call(move |s| s.delete_bucket(&bucket)).await?;
            Answer::empty(StatusCode::NO_CONTENT)
        }
        Op::ListObjectsV2 {
            bucket,
            params,
            url_encoded,
            token,
            start_after,
        } => {
            let (b, p) = (bucket.clone(), params.clone());
            let page = s3.call(move |s| s.list_objects(&b, &p)).await?;
            let echo = ListEcho {
                bucket: &bucket,
                params: &params,
                url_encoded,
                token: token.as_deref(),
                start_after: start_after.as_deref(),
            };
            Answer::xml(list_objects_xml(&echo, &page))
        }
        Op::DeleteObjects { bucket } => {
            let text = std::str::from_utf8(body).map_err(|_| {
                S3Error::new(S3Code::MalformedXML, "The XML you provided was not UTF-8")
            })?;
            let keys = element_texts(text, "Key")?;
            let quiet = element_texts(text, "Quiet")?.first().map(String::as_str) == Some("true");
            let k = keys.clone();
            s3.call(move |s| s.delete_objects(&bucket, &k)).await?;
            Answer::xml(delete_result_xml(&keys, quiet))
        }
        Op::PutObject { bucket, key } => {
            if headers.contains_key("x-amz-copy-source") {
                return Err(S3Error::not_implemented("CopyObject"));
            }
            if let Some(md5) = header("content-md5") {
                let actual = base64::Engine::encode(
                    &base64::engine::general_purpose::STANDARD,
                    <md5::Md5 as md5::Digest>::digest(body),
                );
                if md5 != actual {
                    return Err(S3Error::new(
                        S3Code::BadDigest,
                        "The Content-MD5 you specified did not match what we received.",
                    ));
                }
            }
            let content_type = header("content-type")
                .unwrap_or("binary/octet-stream")
                .to_string();
            let now = now_secs();
            let body = body.to_vec();
            let meta = s3
                .call(move |s| s.put_object(&bucket, &key, &body, &content_type, now))
                .await?;
            Answer::empty(StatusCode::OK).header("etag", meta.etag)
        }
        Op::GetObject { bucket, key } => {
            let (meta, mut bytes) = s3.call(move |s| s.get_object(&bucket, &key)).await?;
            let range = parse_range(header("range"), meta.size)?;
            let mut a = object_headers(Answer::empty(StatusCode::OK), &meta);
            if let Some((start, end)) = range {
                // Both ends are below the size, which is the length of `bytes`.
                bytes = bytes
                    .get(start as usize..=end as usize)
                    .map(<[u8]>::to_vec)
                    .unwrap_or_default();
                a.status = StatusCode::PARTIAL_CONTENT;
                a = a.header(
                    "content-range",
                    format!("bytes {start}-{end}/{}", meta.size),
                );
            }
            a.body = bytes;
            a
        }
        Op::HeadObject { bucket, key } => {
            let meta = s3.call(move |s| s.head_object(&bucket, &key)).await?;
            object_headers(Answer::empty(StatusCode::OK), &meta)
                .header("content-length", meta.size.to_string())
        }
        Op::DeleteObject { bucket, key } => {
            s3.call(move |s| s.delete_objects(&bucket, &[key])).await?;
            Answer::empty(StatusCode::NO_CONTENT)
        }
    };
    Ok(answer)
}

fn op_name(op: &Op) -> &'static str {
    match op {
        Op::ListBuckets => "ListBuckets",
        Op::CreateBucket { .. } => "CreateBucket",
        Op::HeadBucket { .. } => "HeadBucket",
        Op::GetBucketLocation { .. } => "GetBucketLocation",
        Op::DeleteBucket { .. } => "DeleteBucket",
        Op::ListObjectsV2 { .. } => "ListObjectsV2",
        Op::DeleteObjects { .. } => "DeleteObjects",
        Op::PutObject { .. } => "PutObject",
        Op::GetObject { .. } => "GetObject",
        Op::HeadObject { .. } => "HeadObject",
        Op::DeleteObject { .. } => "DeleteObject",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::front::AuthFailure;
    use crate::front::sigv4::AuthError;

    #[test]
    fn splits_and_decodes_paths() {
        assert_eq!(split_path("/").unwrap(), (None, None));
        assert_eq!(split_path("/b").unwrap(), (Some("b".into()), None));
        assert_eq!(split_path("/b/").unwrap(), (Some("b".into()), None));
        assert_eq!(
            split_path("/b/dir/my%20file+1.env").unwrap(),
            (Some("b".into()), Some("dir/my file+1.env".into()))
        );
        assert_eq!(
            split_path("/b/a//c").unwrap(),
            (Some("b".into()), Some("a//c".into()))
        );
        assert_eq!(split_path("/b/%FF").unwrap_err().code, S3Code::InvalidURI);
    }

    #[test]
    fn parses_operations() {
        let op = |m: Method, p: &str, q: &str| parse_op(&m, p, q);
        assert_eq!(op(Method::GET, "/", "").unwrap(), Op::ListBuckets);
        assert_eq!(
            op(Method::PUT, "/b", "").unwrap(),
            Op::CreateBucket { bucket: "b".into() }
        );
        assert_eq!(
            op(Method::GET, "/b/k", "x-id=GetObject").unwrap(),
            Op::GetObject {
                bucket: "b".into(),
                key: "k".into()
            }
        );
        assert_eq!(
            op(Method::POST, "/b", "delete").unwrap(),
            Op::DeleteObjects { bucket: "b".into() }
        );
        let Op::ListObjectsV2 {
            params, url_encoded, ..
        } = op(
            Method::GET,
            "/b",
            "list-type=2&prefix=a%2Fb&delimiter=%2F&max-keys=5&encoding-type=url&continuation-token=612f",
        )
        .unwrap()
        else {
            panic!("not a listing")
        };
        assert_eq!(params.prefix, "a/b");
        assert_eq!(params.delimiter.as_deref(), Some("/"));
        assert_eq!(params.max_keys, 5);
        assert_eq!(params.after.as_deref(), Some("a/"));
        assert!(url_encoded);
        assert_eq!(
            op(Method::GET, "/b", "acl").unwrap_err().code,
            S3Code::NotImplemented
        );
        assert_eq!(
            op(Method::POST, "/b/k", "uploads").unwrap_err().code,
            S3Code::NotImplemented
        );
        assert_eq!(
            op(Method::DELETE, "/", "").unwrap_err().code,
            S3Code::MethodNotAllowed
        );
        assert_eq!(
            op(Method::GET, "/b", "list-type=2&max-keys=x")
                .unwrap_err()
                .code,
            S3Code::InvalidArgument
        );
    }

    #[test]
    fn bucket_names() {
        assert!(valid_bucket_name("env-files.1"));
        for bad in ["ab", "Upper", "-a-b", "a..b", "a_b", &"a".repeat(64)] {
            assert!(!valid_bucket_name(bad), "{bad}");
        }
    }

    #[test]
    fn ranges() {
        assert_eq!(parse_range(None, 10).unwrap(), None);
        assert_eq!(parse_range(Some("bytes=2-4"), 10).unwrap(), Some((2, 4)));
        assert_eq!(parse_range(Some("bytes=2-"), 10).unwrap(), Some((2, 9)));
        assert_eq!(parse_range(Some("bytes=-3"), 10).unwrap(), Some((7, 9)));
        assert_eq!(parse_range(Some("bytes=5-99"), 10).unwrap(), Some((5, 9)));
        assert_eq!(
            parse_range(Some("bytes=10-"), 10).unwrap_err().code,
            S3Code::InvalidRange
        );
        assert_eq!(parse_range(Some("bytes=0-1,4-5"), 10).unwrap(), None);
    }

    #[test]
    fn reads_xml_bodies() {
        let body = "<Delete xmlns=\"x\"><Object><Key>a &amp; b</Key></Object><Object><Key>c&#x2F;d&#47;e</Key></Object><Quiet>true</Quiet></Delete>";
        assert_eq!(element_texts(body, "Key").unwrap(), ["a & b", "c/d/e"]);
        assert_eq!(element_texts(body, "Quiet").unwrap(), ["true"]);
        assert_eq!(
            element_texts("<Key>open", "Key").unwrap_err().code,
            S3Code::MalformedXML
        );
        assert_eq!(
            element_texts("<Key>&bogus;</Key>", "Key").unwrap_err().code,
            S3Code::MalformedXML
        );
    }

    #[test]
    fn renders_xml() {
        let e =
            S3Error::new(S3Code::NoSuchKey, "The specified key does not exist.").resource("/b/a<b");
        assert_eq!(
            error_xml(&e, "R1"),
            r#"<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message><Resource>/b/a&lt;b</Resource><RequestId>R1</RequestId></Error>"#
        );
        assert_eq!(e.code.status(), StatusCode::NOT_FOUND);
        assert_eq!(iso8601(1_795_317_133), "2026-11-22T03:12:13.000Z");

        let meta = ObjectMeta {
            size: 3,
            etag: "\"e\"".into(),
            content_type: "text/plain".into(),
            last_modified: 0,
            blob: "x".into(),
        };
        let page = Listing {
            contents: vec![("a b+c".into(), meta)],
            common_prefixes: vec!["d/".into()],
            truncated: true,
            last: Some("d/".into()),
        };
        let params = ListParams {
            prefix: String::new(),
            delimiter: Some("/".into()),
            max_keys: 2,
            after: None,
        };
        let echo = ListEcho {
            bucket: "b",
            params: &params,
            url_encoded: true,
            token: None,
            start_after: None,
        };
        let xml = list_objects_xml(&echo, &page);
        assert!(xml.contains("<Key>a%20b%2Bc</Key>"), "{xml}");
        assert!(xml.contains("<KeyCount>2</KeyCount><IsTruncated>true</IsTruncated>"));
        assert!(xml.contains("<NextContinuationToken>642f</NextContinuationToken>"));
        assert!(xml.contains("<CommonPrefixes><Prefix>d/</Prefix></CommonPrefixes>"));
        assert!(xml.contains("<ETag>&quot;e&quot;</ETag>"));
        assert!(xml.contains("<LastModified>1970-01-01T00:00:00.000Z</LastModified>"));
    }

    #[test]
    fn auth_failures_map_to_s3_codes() {
        let code = |e: AuthFailure| S3Error::from(e).code;
        assert_eq!(
            code(AuthFailure::Signature(AuthError::BadSignature)),
            S3Code::SignatureDoesNotMatch
        );
        assert_eq!(
            code(AuthFailure::Signature(AuthError::UnknownKey)),
            S3Code::InvalidAccessKeyId
        );
        assert_eq!(
            code(AuthFailure::Signature(AuthError::ContentSha256Mismatch)),
            S3Code::XAmzContentSHA256Mismatch
        );
        assert_eq!(
            code(AuthFailure::Signature(AuthError::Missing)),
            S3Code::AccessDenied
        );
        assert_eq!(S3Code::InvalidAccessKeyId.status(), StatusCode::FORBIDDEN);
    }
}
