//! Finding-type patterns such as `CryptoCurrency:*` or `Backdoor:EC2/C&CActivity.B*`.
//! `*` matches any run of characters (slashes included), `?` exactly one.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeGlob(String);

impl TypeGlob {
    /// Accepts the characters GuardDuty finding types use plus `*` and `?`; anything else
    /// (brackets, braces, spaces) is refused rather than silently taken literally.
    pub fn new(pattern: &str) -> Result<Self, String> {
        if pattern.is_empty() {
            return Err("the pattern is empty".into());
        }
        if let Some(bad) = pattern
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || ":/.!&-_*?".contains(*c)))
        {
            return Err(format!(
                "{bad:?} is not allowed in a finding-type pattern (only letters, digits, \
                 `:/.!&-_` and the wildcards `*` and `?`)"
            ));
        }
        Ok(Self(pattern.to_string()))
    }

    pub fn matches(&self, text: &str) -> bool {
        matches(self.0.as_bytes(), text.as_bytes())
    }
}

impl fmt::Display for TypeGlob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Iterative wildcard matching with backtracking to the last `*`: linear in practice, no
/// recursion, so hostile patterns cannot blow the stack.
fn matches(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == b'?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((star_p, star_t)) => {
                    p = star_p + 1;
                    t = star_t + 1;
                    star = Some((star_p, star_t + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn glob(p: &str) -> TypeGlob {
        TypeGlob::new(p).unwrap()
    }

    #[test]
    fn wildcards() {
        assert!(glob("CryptoCurrency:*").matches("CryptoCurrency:EC2/BitcoinTool.B!DNS"));
        assert!(glob("*:EC2/*").matches("Trojan:EC2/DGADomainRequest.B"));
        assert!(glob("Backdoor:EC2/C&CActivity.B?DNS").matches("Backdoor:EC2/C&CActivity.B!DNS"));
        assert!(glob("*").matches(""));
        assert!(glob("a*b*c").matches("aXXbYYc"));
        assert!(!glob("a*b*c").matches("aXXbYY"));
        assert!(!glob("CryptoCurrency:*").matches("Trojan:EC2/BlackholeTraffic"));
        assert!(!glob("Trojan:EC2/DropPoint").matches("Trojan:EC2/DropPoint!DNS"));
    }

    #[test]
    fn bad_patterns_are_refused() {
        for bad in ["", "Crypto[Currency]:*", "{a,b}", "has space"] {
            assert!(TypeGlob::new(bad).is_err(), "{bad:?}");
        }
    }
}
