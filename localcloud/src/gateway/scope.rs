//! Who makes a call and what it is, read from the request alone: the SigV4 credential scope
//! (service and account), the calling Lambda function and whether it signed with its own
//! keys, the operation of a call to a moto-served service, and the decoded query.

use crate::defaults::DEFAULT_ACCOUNT;
use crate::http;
use percent_encoding::percent_decode_str;

/// The service and account a SigV4-signed request is for: `Credential=AKID/date/region/service/aws4_request`.
pub fn credential_scope(headers: &hyper::HeaderMap, query: &str) -> (Option<String>, String) {
    let header = authorization(headers);
    let from_header = header
        .split("Credential=")
        .nth(1)
        .map(|rest| rest.split([',', ' ']).next().unwrap_or_default().to_string());
    let from_query = || {
        query.split('&').find_map(|pair| {
            let (key, value) = pair.split_once('=')?;
            (key == "X-Amz-Credential").then(|| percent_decode_str(value).decode_utf8_lossy().to_string())
        })
    };
    let Some(credential) = from_header.or_else(from_query) else {
        return (None, DEFAULT_ACCOUNT.into());
    };
    let parts: Vec<&str> = credential.split('/').collect();
    let access_key = parts.first().copied().unwrap_or_default();
    let account = if access_key.len() == 12 && access_key.bytes().all(|b| b.is_ascii_digit()) {
        access_key.to_string()
    } else {
        DEFAULT_ACCOUNT.to_string()
    };
    (parts.get(3).map(|s| (*s).to_string()), account)
}

fn authorization(headers: &hyper::HeaderMap) -> &str {
    http::header(headers, "authorization").unwrap_or_default()
}

pub(super) fn decode_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |s: &str| {
                percent_decode_str(&s.replace('+', " "))
                    .decode_utf8_lossy()
                    .to_string()
            };
            (decode(key), decode(value))
        })
        .collect()
}

/// Who made a call: a Lambda function (or not), with its own keys or an assumed role's.
#[derive(Debug)]
pub(super) struct Caller {
    pub(super) function: Option<String>,
    pub(super) own_credentials: bool,
}

impl Caller {
    pub(super) fn of(headers: &hyper::HeaderMap, query: &str, account: &str) -> Self {
        Self {
            function: calling_function(headers),
            own_credentials: own_credentials(headers, query, account),
        }
    }
}

/// The Lambda host gives functions an account id as access key; an assumed role's keys are
/// moto's (`ASIA…`).
fn own_credentials(headers: &hyper::HeaderMap, query: &str, account: &str) -> bool {
    let signed = |text: &str| {
        text.contains(&format!("Credential={account}/"))
            || text.contains(&format!("Credential%3D{account}%2F"))
    };
    signed(authorization(headers)) || query.contains(&format!("X-Amz-Credential={account}%2F"))
}

/// The Lambda function that made a call: `app/<name>` in the SDK's user agent, which the
/// Lambda host sets through AWS_SDK_UA_APP_ID.
fn calling_function(headers: &hyper::HeaderMap) -> Option<String> {
    ["x-amz-user-agent", "user-agent"]
        .iter()
        .filter_map(|name| http::header(headers, name))
        .flat_map(str::split_whitespace)
        .find_map(|token| token.strip_prefix("app/"))
        .map(str::to_string)
}

/// The operation of a call to a moto-served service: `X-Amz-Target` (JSON protocols) or the
/// `Action` of a query-protocol form body.
pub(super) fn proxied_operation(headers: &hyper::HeaderMap, body: &[u8]) -> String {
    if let Some(target) = http::header(headers, "x-amz-target") {
        return target.rsplit('.').next().unwrap_or(target).to_string();
    }
    String::from_utf8_lossy(body)
        .split('&')
        .find_map(|pair| pair.strip_prefix("Action="))
        .unwrap_or("Unknown")
        .to_string()
}
