"""An independent client for the Cloud WAN emulator: boto3 (botocore's own service model).

Run by tests/independent_client.rs with the local cloud's virtualenv python and
AWS_ENDPOINT_URL pointing at the gateway. Exits non-zero, with the reason, on any mismatch.
"""
import json
import os
import sys
import time

import boto3
from botocore.config import Config

POLICY = open(sys.argv[1]).read()
SPOKE = "222222222222"

nm = boto3.client(
    "networkmanager",
    endpoint_url=os.environ["AWS_ENDPOINT_URL"],
    region_name="us-east-1",
    aws_access_key_id="123456789012",
    aws_secret_access_key="cwq-local",
    config=Config(retries={"mode": "standard", "max_attempts": 3}),
)


def check(condition, message):
    if not condition:
        print("FAIL: " + message, file=sys.stderr)
        sys.exit(1)


def attachment(attachment_id):
    return nm.get_vpc_attachment(AttachmentId=attachment_id)["VpcAttachment"]["Attachment"]


def wait_available(attachment_id):
    for _ in range(100):
        a = attachment(attachment_id)
        if a["State"] == "AVAILABLE":
            return a
        time.sleep(0.05)
    check(False, "attachment %s never became AVAILABLE" % attachment_id)


global_id = nm.create_global_network(Description="boto3")["GlobalNetwork"]["GlobalNetworkId"]
core = nm.create_core_network(GlobalNetworkId=global_id, PolicyDocument=POLICY)["CoreNetwork"]
core_id = core["CoreNetworkId"]

live = nm.get_core_network_policy(CoreNetworkId=core_id, Alias="LIVE")["CoreNetworkPolicy"]
check(isinstance(live["PolicyDocument"], str), "PolicyDocument must be a JSON string")
check(json.loads(live["PolicyDocument"])["version"] == "2021.12", "the LIVE policy round-trips")

ids = []
for n in range(120):
    vpc = "arn:aws:ec2:us-east-1:%s:vpc/vpc-%017x" % (SPOKE, n)
    created = nm.create_vpc_attachment(
        CoreNetworkId=core_id, VpcArn=vpc, SubnetArns=[vpc.replace(":vpc/vpc-", ":subnet/subnet-")]
    )
    ids.append(created["VpcAttachment"]["Attachment"]["AttachmentId"])

paginator = nm.get_paginator("list_attachments")
seen = []
pages = 0
for page in paginator.paginate(CoreNetworkId=core_id, PaginationConfig={"PageSize": 50}):
    pages += 1
    seen.extend(a["AttachmentId"] for a in page["Attachments"])
check(sorted(seen) == sorted(ids), "the paginator returns every attachment once")
check(pages == 3, "120 attachments in pages of 50 are 3 pages, got %d" % pages)

target = ids[0]
first = wait_available(target)
check(first["SegmentName"] == "hub", "a new VPC attachment lands in hub, got %s" % first.get("SegmentName"))
check(isinstance(first["CreatedAt"], object) and hasattr(first["CreatedAt"], "year"), "timestamps parse as datetimes")

arn = "arn:aws:networkmanager::%s:attachment/%s" % (SPOKE, target)
nm.tag_resource(ResourceArn=arn, Tags=[{"Key": "quarantine", "Value": "blocked"}])
moved = wait_available(target)
check(moved["SegmentName"] == "blocked", "retagged, it moves to blocked, got %s" % moved.get("SegmentName"))
check(moved["AttachmentPolicyRuleNumber"] == 10, "rule 10 places it")
tags = nm.list_tags_for_resource(ResourceArn=arn)["TagList"]
check({"Key": "quarantine", "Value": "blocked"} in tags, "ListTagsForResource answers TagList")

try:
    nm.get_vpc_attachment(AttachmentId="attachment-0000000000000dead")
    check(False, "an unknown attachment must fail")
except nm.exceptions.ResourceNotFoundException as e:
    check(e.response["Error"]["Code"] == "ResourceNotFoundException", "typed error code")
    check(e.response["ResponseMetadata"]["HTTPStatusCode"] == 404, "status 404")

print("boto3: %d attachments, %d pages, retag moved %s to blocked" % (len(ids), pages, target))
