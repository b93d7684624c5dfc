//! Network Manager's operations and the restJson1 routes they are served at: the method and
//! path of each, as the service model binds them (docs/aws-behaviour.md).

use percent_encoding::percent_decode_str;

/// The operations, each once: the enum and the names counters and fault rules use.
macro_rules! operations {
    ($($op:ident),* $(,)?) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub(super) enum Op {
            $($op),*
        }

        impl Op {
            pub(super) fn name(self) -> &'static str {
                match self {
                    $(Self::$op => stringify!($op)),*
                }
            }
        }
    };
}

operations!(
    CreateGlobalNetwork,
    DescribeGlobalNetworks,
    CreateCoreNetwork,
    ListCoreNetworks,
    GetCoreNetwork,
    PutCoreNetworkPolicy,
    GetCoreNetworkPolicy,
    ExecuteCoreNetworkChangeSet,
    CreateVpcAttachment,
    GetVpcAttachment,
    ListAttachments,
    DeleteAttachment,
    AcceptAttachment,
    RejectAttachment,
    TagResource,
    UntagResource,
    ListTagsForResource,
);

/// Routes on the raw path: each label is one segment between slashes, still percent-encoded
/// (an ARN's `/` arrives as `%2F`), and decoded once it is cut out.
pub(super) fn route(method: &str, raw_path: &str) -> Option<(Op, Vec<String>)> {
    let path = raw_path.split('?').next().unwrap_or_default();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let decode = |s: &str| percent_decode_str(s).decode_utf8_lossy().to_string();
    let op = match (method, segments.as_slice()) {
        ("POST", ["global-networks"]) => (Op::CreateGlobalNetwork, vec![]),
        ("GET", ["global-networks"]) => (Op::DescribeGlobalNetworks, vec![]),
        ("POST", ["core-networks"]) => (Op::CreateCoreNetwork, vec![]),
        ("GET", ["core-networks"]) => (Op::ListCoreNetworks, vec![]),
        ("GET", ["core-networks", id]) => (Op::GetCoreNetwork, vec![decode(id)]),
        ("POST", ["core-networks", id, "core-network-policy"]) => {
            (Op::PutCoreNetworkPolicy, vec![decode(id)])
        }
        ("GET", ["core-networks", id, "core-network-policy"]) => (Op::GetCoreNetworkPolicy, vec![decode(id)]),
        ("POST", ["core-networks", id, "core-network-change-sets", version, "execute"]) => {
            (Op::ExecuteCoreNetworkChangeSet, vec![decode(id), decode(version)])
        }
        ("POST", ["vpc-attachments"]) => (Op::CreateVpcAttachment, vec![]),
        ("GET", ["vpc-attachments", id]) => (Op::GetVpcAttachment, vec![decode(id)]),
        ("GET", ["attachments"]) => (Op::ListAttachments, vec![]),
        ("DELETE", ["attachments", id]) => (Op::DeleteAttachment, vec![decode(id)]),
        ("POST", ["attachments", id, "accept"]) => (Op::AcceptAttachment, vec![decode(id)]),
        ("POST", ["attachments", id, "reject"]) => (Op::RejectAttachment, vec![decode(id)]),
        ("POST", ["tags", arn]) => (Op::TagResource, vec![decode(arn)]),
        ("DELETE", ["tags", arn]) => (Op::UntagResource, vec![decode(arn)]),
        ("GET", ["tags", arn]) => (Op::ListTagsForResource, vec![decode(arn)]),
        _ => return None,
    };
    Some(op)
}

/// Mutating operations, for the log that proves a dry run changed nothing.
pub fn is_mutating(operation: &str) -> bool {
    !(operation.starts_with("Get") || operation.starts_with("List") || operation.starts_with("Describe"))
}
