//! Bearer tokens: made from 256 random bits, shown once, stored as a SHA-256 hash, checked in
//! constant time.
//!
//! A token scimkit issues reads `scimkit_<id>_<secret>`: the id (16 hex digits) names the
//! record, so a check is one indexed read; the secret (64 hex digits) is never stored. A token
//! from elsewhere (`SCIMKIT_BOOTSTRAP_TOKEN` set by automation) has its id derived from its
//! hash. Either way the record holds the SHA-256 of the whole token, compared with
//! [`subtle`]'s constant-time equality. A slow password hash is not needed: the secret has
//! 256 bits of entropy, so no dictionary applies.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::env::{Env, hex};

/// The prefix of tokens scimkit issues.
const PREFIX: &str = "scimkit_";

/// A token just made: the secret string (shown once) and its record's id and hash.
#[derive(Debug)]
pub(crate) struct NewToken {
    pub(crate) id: String,
    pub(crate) token: String,
    pub(crate) hash: String,
}

/// Makes a token from the environment's random source.
pub(crate) fn generate(env: &dyn Env) -> NewToken {
    let id = env.random_hex(8);
    let token = format!("{PREFIX}{id}_{}", env.random_hex(32));
    let hash = hash(&token);
    NewToken { id, token, hash }
}

/// The record for a token chosen by someone else (e.g. `SCIMKIT_BOOTSTRAP_TOKEN`).
pub(crate) fn adopt(token: &str) -> NewToken {
    NewToken {
        id: id_of(token),
        token: token.to_owned(),
        hash: hash(token),
    }
}

/// The id of the record a presented token would have.
pub(crate) fn id_of(token: &str) -> String {
    if let Some(rest) = token.strip_prefix(PREFIX)
        && let Some((id, secret)) = rest.split_once('_')
        && id.len() == 16
        && id.bytes().all(|b| b.is_ascii_hexdigit())
        && !secret.is_empty()
    {
        return id.to_owned();
    }
    // Not one of ours: the id comes from the hash (a distinct shape, so it cannot collide
    // with an issued id).
    format!("x{}", &hash(token)[..16])
}

/// The hex SHA-256 of a token.
pub(crate) fn hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

/// Whether two hashes are equal, in time that does not depend on where they differ.
pub(crate) fn same_hash(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// The token of an `Authorization: Bearer …` header value.
pub(crate) fn bearer(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::FixedEnv;

    #[test]
    fn issued_tokens_name_their_record() {
        let env = FixedEnv::at("2026-11-28T12:00:00Z");
        let t = generate(&env);
        assert!(t.token.starts_with("scimkit_"));
        assert_eq!(t.token.len(), 8 + 16 + 1 + 64);
        assert_eq!(id_of(&t.token), t.id);
        assert_eq!(hash(&t.token), t.hash);
        assert_ne!(generate(&env).token, t.token);
    }

    #[test]
    fn foreign_tokens_get_an_id_from_their_hash() {
        let t = adopt("my-automation-token");
        assert_eq!(t.id.len(), 17);
        assert!(t.id.starts_with('x'));
        assert_eq!(id_of("my-automation-token"), t.id);
        assert_ne!(id_of("my-automation-token2"), t.id);
        // A malformed scimkit-looking token is foreign too.
        assert!(id_of("scimkit_zz_secret").starts_with('x'));
    }

    #[test]
    fn bearer_headers() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer  abc "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer "), None);
        assert!(same_hash(&hash("a"), &hash("a")));
        assert!(!same_hash(&hash("a"), &hash("b")));
        assert!(!same_hash("ab", "abc"));
    }
}
