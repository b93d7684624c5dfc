//! Benchmarks of the local cloud itself (not a test: figures, not assertions). Run with
//! `scripts/bench-localcloud`, which writes the table into docs/benchmarks.md.
//!
//! - ListAttachments over 10,000 attachments (every page of 500) through the SDK;
//! - the gateway's overhead per call: the emulator called in-process, over HTTP without the
//!   SDK, and through the SDK;
//! - the Lambda host: a function's cold start (process start → first `next`), its first
//!   invocation, and a warm invocation.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

use aws_config::BehaviorVersion;
use aws_sdk_networkmanager::config::{Credentials, Region};
use bytes::Bytes;
use cwq_localcloud::admin::AdminClient;
use cwq_localcloud::api::ApiRequest;
use cwq_localcloud::cloudwan::Settings;
use cwq_localcloud::gateway::{self, GatewayConfig};
use cwq_localcloud::lambda_host::FunctionConfig;
use http_body_util::{BodyExt, Full};
use serde_json::json;
use std::time::{Duration, Instant};

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn us(d: Duration) -> String {
    format!("{:.0} µs", d.as_secs_f64() * 1e6)
}

#[tokio::main]
async fn main() {
    let dir = std::env::temp_dir().join(format!("cwq-bench-{}", std::process::id()));
    let settings = Settings {
        transition_delay_ms: 0,
        ..Settings::default()
    };
    let cloud = gateway::start(GatewayConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        moto_url: None,
        log_dir: dir.join("logs"),
        cloudwan: settings,
    })
    .await
    .unwrap();
    let config = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(cloud.endpoint_url())
        .credentials_provider(Credentials::new("123456789012", "x", None, None, "bench"))
        .load()
        .await;
    let nm = aws_sdk_networkmanager::Client::new(&config);
    let policy = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/core-network-policy.json"
    ))
    .unwrap();
    let global = nm.create_global_network().send().await.unwrap();
    let global_id = global
        .global_network()
        .unwrap()
        .global_network_id()
        .unwrap()
        .to_string();
    let core = nm
        .create_core_network()
        .global_network_id(global_id)
        .policy_document(policy)
        .send()
        .await
        .unwrap();
    let core_id = core
        .core_network()
        .unwrap()
        .core_network_id()
        .unwrap()
        .to_string();

    let started = Instant::now();
    let mut first = String::new();
    for n in 0..10_000u32 {
        let vpc = format!("arn:aws:ec2:us-east-1:222222222222:vpc/vpc-{n:017x}");
        let created = nm
            .create_vpc_attachment()
            .core_network_id(&core_id)
            .vpc_arn(&vpc)
            .subnet_arns(vpc.replace(":vpc/vpc-", ":subnet/subnet-"))
            .send()
            .await
            .unwrap();
        if n == 0 {
            first = created
                .vpc_attachment()
                .unwrap()
                .attachment()
                .unwrap()
                .attachment_id()
                .unwrap()
                .to_string();
        }
    }
    let create_each = started.elapsed() / 10_000;

    let mut list = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let items = nm
            .list_attachments()
            .core_network_id(&core_id)
            .max_results(500)
            .into_paginator()
            .items()
            .send();
        let all: Vec<_> = items.collect::<Vec<_>>().await;
        assert_eq!(all.len(), 10_000);
        list.push(t.elapsed());
    }

    // One GetVpcAttachment three ways.
    let direct_request = ApiRequest {
        method: "GET".into(),
        raw_path: format!("/vpc-attachments/{first}"),
        query: Vec::new(),
        body: Bytes::new(),
        account: "123456789012".into(),
    };
    let mut direct = Vec::new();
    for _ in 0..2000 {
        let t = Instant::now();
        let response = cloud.cloud.cloudwan.lock().unwrap().handle(&direct_request);
        assert_eq!(response.status, 200);
        direct.push(t.elapsed());
    }
    let client =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http();
    let mut raw = Vec::new();
    for _ in 0..2000 {
        let request = hyper::Request::get(format!("{}/vpc-attachments/{first}", cloud.endpoint_url()))
            .header("authorization", "AWS4-HMAC-SHA256 Credential=123456789012/20260101/us-east-1/networkmanager/aws4_request, Signature=0")
            .body(Full::new(Bytes::new()))
            .unwrap();
        let t = Instant::now();
        let response = client.request(request).await.unwrap();
        let _ = response.into_body().collect().await.unwrap();
        raw.push(t.elapsed());
    }
    let mut sdk = Vec::new();
    for _ in 0..2000 {
        let t = Instant::now();
        nm.get_vpc_attachment()
            .attachment_id(&first)
            .send()
            .await
            .unwrap();
        sdk.push(t.elapsed());
    }

    // The Lambda host: five cold starts of the probe, then warm calls.
    let probe = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/quick/cwq-probe");
    let probe = std::env::var("CWQ_PROBE")
        .map(std::path::PathBuf::from)
        .unwrap_or(probe);
    let invoke = |payload: serde_json::Value| {
        let endpoint = cloud.endpoint_url();
        let client = client.clone();
        async move {
            let request = hyper::Request::post(format!("{endpoint}/2015-03-31/functions/probe/invocations"))
                .header("authorization", "AWS4-HMAC-SHA256 Credential=123456789012/20260101/us-east-1/lambda/aws4_request, Signature=0")
                .body(Full::new(Bytes::from(payload.to_string())))
                .unwrap();
            let response = client.request(request).await.unwrap();
            assert_eq!(response.status(), 200);
            let _ = response.into_body().collect().await.unwrap();
        }
    };
    let admin = AdminClient::new(cloud.endpoint_url());
    let mut first_invocation = Vec::new();
    for _ in 0..5 {
        admin
            .put_function(&FunctionConfig::new("probe", &probe))
            .await
            .unwrap();
        let t = Instant::now();
        invoke(json!({"echo": 1})).await;
        first_invocation.push(t.elapsed());
    }
    let mut warm = Vec::new();
    for _ in 0..500 {
        let t = Instant::now();
        invoke(json!({"echo": 1})).await;
        warm.push(t.elapsed());
    }
    let functions = cloud.cloud.lambda.configs();
    let inits: Vec<Duration> = functions[0]
        .1
        .cold_start_init_ms
        .iter()
        .map(|m| Duration::from_secs_f64(m / 1000.0))
        .collect();
    let probe_size = std::fs::metadata(&probe).map(|m| m.len()).unwrap_or(0);

    let (d, r, s) = (median(direct), median(raw), median(sdk));
    println!("| figure | value |");
    println!("|---|---|");
    println!(
        "| CreateVpcAttachment through the SDK, mean of 10,000 | {} |",
        ms(create_each)
    );
    println!("| ListAttachments, all 10,000 attachments in 20 pages of 500 through the SDK paginator (median of 5) | {} |", ms(median(list)));
    println!(
        "| GetVpcAttachment in-process (the emulator alone, median of 2,000) | {} |",
        us(d)
    );
    println!(
        "| GetVpcAttachment over HTTP through the gateway, no SDK (median of 2,000) | {} |",
        us(r)
    );
    println!(
        "| GetVpcAttachment through the SDK and the gateway (median of 2,000) | {} |",
        us(s)
    );
    println!(
        "| gateway overhead per call (HTTP − in-process) | {} |",
        us(r.saturating_sub(d))
    );
    println!(
        "| cwq-probe cold start: process start → first `next` (median of 5) | {} |",
        ms(median(inits))
    );
    println!(
        "| cwq-probe first invocation, cold, through the gateway (median of 5) | {} |",
        ms(median(first_invocation))
    );
    println!(
        "| cwq-probe warm invocation through the gateway (median of 500) | {} |",
        ms(median(warm))
    );
    println!(
        "| cwq-probe binary size (quick profile, stripped) | {:.1} MiB |",
        probe_size as f64 / 1048576.0
    );
    cloud.stop().await;
}
