"""The baseline for docs/benchmarks.md: the seed sample's shape in Python 3 + boto3, one Lambda
that maps severity to a segment tag, calls ListAttachments, then TagResource (no verification,
no journal). Written for the benchmark; it is not part of cwq."""
import boto3

# Created at import, as the seed sample does: part of the cold start.
network_manager = boto3.client("networkmanager")


def handler(event, context):
    detail = event["detail"]
    severity = float(detail["severity"])
    segment = "blocked" if severity >= 7.0 else "inspected"
    vpc_id = detail["resource"]["instanceDetails"]["networkInterfaces"][0]["vpcId"]
    core_network_id = event["core_network_id"]
    page = network_manager.list_attachments(CoreNetworkId=core_network_id, AttachmentType="VPC")
    for attachment in page["Attachments"]:
        if attachment["ResourceArn"].endswith(":vpc/" + vpc_id):
            arn = "arn:aws:networkmanager::%s:attachment/%s" % (
                attachment["OwnerAccountId"],
                attachment["AttachmentId"],
            )
            network_manager.tag_resource(ResourceArn=arn, Tags=[{"Key": "quarantine", "Value": segment}])
            return {"attachment": attachment["AttachmentId"], "segment": segment}
    return {"attachment": None}
