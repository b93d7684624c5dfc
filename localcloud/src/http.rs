//! Small HTTP/1.1 plumbing on hyper shared by the gateway and the Runtime API listeners.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::future::Future;
use tokio::net::TcpListener;

pub type Body = Full<Bytes>;

pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
}

/// Serves every connection on `listener` with `handler`, until the task is dropped.
pub async fn serve<F, Fut>(listener: TcpListener, handler: F)
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response<Body>> + Send + 'static,
{
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let handler = handler.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let handler = handler.clone();
                async move { Ok::<_, Infallible>(handler(request).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// A header's value, when it is text.
pub fn header<'a>(headers: &'a hyper::HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

pub async fn collect(request: Request<Incoming>) -> Result<Bytes, hyper::Error> {
    Ok(request.into_body().collect().await?.to_bytes())
}

pub fn status(code: u16, message: &str) -> Response<Body> {
    json_status(code, &serde_json::json!({"message": message}))
}

pub fn json_status(code: u16, value: &serde_json::Value) -> Response<Body> {
    typed_status(code, "application/json", value.to_string())
}

/// A response of status `code` whose body is of `content_type`.
pub fn typed_status(code: u16, content_type: &'static str, body: impl Into<Bytes>) -> Response<Body> {
    let mut response = Response::new(full(body));
    *response.status_mut() =
        hyper::StatusCode::from_u16(code).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static(content_type),
    );
    response
}
