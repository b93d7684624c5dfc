//! Shared by the core's integration tests: the repository's fixtures and policies.
#![allow(dead_code)] // each test crate uses a part

use std::path::PathBuf;

pub fn repo_file(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(relative)
}

pub fn read(relative: &str) -> String {
    let path = repo_file(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn fixture(name: &str) -> String {
    read(&format!("fixtures/{name}"))
}

/// Every name a finding parse error may carry.
pub const ERROR_NAMES: &[&str] = &[
    "MalformedJson",
    "NotAGuardDutyEvent",
    "MissingField",
    "WrongType",
    "NotApplicable",
    "SeverityOutOfRange",
    "InvalidInstanceId",
    "InvalidVpcId",
    "InvalidAccountId",
    "InvalidFindingId",
    "InvalidFindingType",
];
