//! Section 4: calls per incident, and enrichment against the size of the core network.

use super::*;

/// 4: calls per incident by operation, and enrichment against the size of the core network.
pub async fn calls_and_growth(cloud: &Cloud, incident: &Incident) {
    println!("## API calls per incident\n");
    println!("One High finding, first sighting of its VPC (the attachment not cached yet).\n");
    println!("| service:operation | calls | mean time at the gateway |\n|---|---|---|");
    for (op, n) in &incident.calls {
        let ms = incident.call_ms.get(op).copied().unwrap_or(0.0) / *n as f64;
        println!("| {op} | {n} | {ms:.1} ms |");
    }
    println!();

    println!("## Enrichment against the size of the core network\n");
    println!(
        "Filler VPC attachments in the finding's Region, the finding's VPC attached last (the end of \
         the listing); calls made by one quarantine, first sighting and again for the same VPC.\n"
    );
    println!("| attachments | first: ListAttachments | first: Decide's first invocation | again: ListAttachments | again: GetVpcAttachment | again: Decide's first invocation |");
    println!("|---|---|---|---|---|---|");
    let nm = cloud.network_manager();
    let mut filler = 0;
    // The core network already holds the spokes of the sections before.
    let existing = nm
        .list_attachments()
        .core_network_id(cloud.core_network_id())
        .into_paginator()
        .items()
        .send()
        .collect::<Vec<_>>()
        .await
        .len();
    for (i, size) in [10usize, 1_000, 10_000].into_iter().enumerate() {
        while existing + filler + 1 < size {
            nm.create_vpc_attachment()
                .core_network_id(cloud.core_network_id())
                .vpc_arn(format!("arn:aws:ec2:{REGION}:{WORKLOAD}:vpc/vpc-f{filler:016x}"))
                .subnet_arns(format!(
                    "arn:aws:ec2:{REGION}:{WORKLOAD}:subnet/subnet-f{filler:016x}"
                ))
                .send()
                .await
                .unwrap();
            filler += 1;
        }
        let spoke = cloud
            .spoke(&format!("10.{}.0.0/16", 170 + i), &[("domain", "hub")])
            .await;
        let mut row = vec![format!("{}", existing + filler + 1)];
        for (round, id) in ["first", "again"].iter().enumerate() {
            let enrich_before = enrich_durations(cloud).await.len();
            let before = counters::<u64>(cloud, "calls");
            quarantine(cloud, &spoke, &format!("grow{size}{id}")).await;
            let calls = delta(&counters::<u64>(cloud, "calls"), &before);
            let enrich_ms = enrich_durations(cloud).await[enrich_before..].iter().sum::<f64>();
            row.push(
                calls
                    .get("networkmanager:ListAttachments")
                    .copied()
                    .unwrap_or(0)
                    .to_string(),
            );
            if round == 1 {
                row.push(
                    calls
                        .get("networkmanager:GetVpcAttachment")
                        .copied()
                        .unwrap_or(0)
                        .to_string(),
                );
            }
            row.push(format!("{enrich_ms:.1} ms"));
            release(cloud, &spoke);
        }
        println!("| {} |", row.join(" | "));
    }
    println!("\n(Decide's first invocation enriches, decides and makes the first tag; \"again: GetVpcAttachment\" counts verify's checks too, the lookup's is one of them.)\n");
}

async fn enrich_durations(cloud: &Cloud) -> Vec<f64> {
    let mut functions = functions(cloud).await;
    // The first invocation enriches, decides and tags; one per quarantine here.
    let enrich = functions.remove("cwq-DecideFunction");
    enrich.map(|f| f.stats.durations_ms).unwrap_or_default()
}
