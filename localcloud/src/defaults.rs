//! The account and region the local cloud answers as when a caller names none. Shared by the
//! gateway (which serves as them), the deploy client (which builds ARNs with them) and moto's
//! launcher, so that none of those depends on another for two constants.

/// The account of callers whose access key is not a 12-digit account id (moto's convention).
pub const DEFAULT_ACCOUNT: &str = "123456789012";
pub const DEFAULT_REGION: &str = "us-east-1";
