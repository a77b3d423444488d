//! JWS compact serialization (RFC 7515 §7.1) of a SET with HS256 (HMAC-SHA-256, RFC 7518
//! §3.2) and the header `typ: secevent+jwt` (RFC 8417 §2.3).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2::Sha256;

pub(crate) type HmacSha256 = Hmac<Sha256>;

/// The protected header of every SET this server signs, as serialized.
const HEADER: &str = r#"{"alg":"HS256","typ":"secevent+jwt"}"#;

/// Why a compact JWS was not accepted by [`verify_hs256`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JwsError {
    /// Not three base64url parts, or a part that is not JSON where JSON is due.
    #[error("not a compact JWS: {0}")]
    Malformed(&'static str),
    /// The header names another algorithm than HS256 (`none` included).
    #[error("the JWS is signed with {0:?}; only HS256 is accepted")]
    Algorithm(String),
    /// The header's `typ` is not `secevent+jwt`.
    #[error("the JWS's typ is {0:?}, not secevent+jwt")]
    Type(String),
    /// The signature does not match the secret.
    #[error("the JWS's signature does not match the secret")]
    Signature,
}

/// `claims` signed with `secret`: `BASE64URL(header) . BASE64URL(claims) . BASE64URL(HMAC)`.
pub fn sign_hs256(claims: &Value, secret: &[u8]) -> String {
    let payload = serde_json::to_vec(claims).unwrap_or_default();
    let mut out = String::with_capacity(HEADER.len() * 2 + payload.len() * 4 / 3 + 48);
    URL_SAFE_NO_PAD.encode_string(HEADER, &mut out);
    out.push('.');
    URL_SAFE_NO_PAD.encode_string(&payload, &mut out);
    let signature = mac(secret, out.as_bytes()).finalize().into_bytes();
    out.push('.');
    URL_SAFE_NO_PAD.encode_string(signature, &mut out);
    out
}

/// The claims of `token` if it is an HS256 `secevent+jwt` signed with `secret` (compared in
/// constant time). A receiver's check; this server uses it in its tests.
pub fn verify_hs256(token: &str, secret: &[u8]) -> Result<Value, JwsError> {
    let mut parts = token.split('.');
    let (Some(head64), Some(payload64), Some(signature64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwsError::Malformed("a compact JWS has three parts"));
    };
    let header: Value = decode_json(head64, "the header is not base64url JSON")?;
    let alg = header.get("alg").and_then(Value::as_str).unwrap_or("");
    if alg != "HS256" {
        return Err(JwsError::Algorithm(alg.to_owned()));
    }
    let typ = header.get("typ").and_then(Value::as_str).unwrap_or("");
    if !typ.eq_ignore_ascii_case("secevent+jwt")
        && !typ.eq_ignore_ascii_case("application/secevent+jwt")
    {
        return Err(JwsError::Type(typ.to_owned()));
    }
    let signature = URL_SAFE_NO_PAD
        .decode(signature64)
        .map_err(|_| JwsError::Malformed("the signature is not base64url"))?;
    let signed = &token[..head64.len() + 1 + payload64.len()];
    mac(secret, signed.as_bytes())
        .verify_slice(&signature)
        .map_err(|_| JwsError::Signature)?;
    decode_json(payload64, "the payload is not base64url JSON")
}

fn decode_json(part: &str, what: &'static str) -> Result<Value, JwsError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| JwsError::Malformed(what))?;
    serde_json::from_slice(&bytes).map_err(|_| JwsError::Malformed(what))
}

pub(crate) fn mac(secret: &[u8], data: &[u8]) -> HmacSha256 {
    // HMAC takes a key of any length (RFC 2104 §2): this never fails.
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(data);
    mac
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Computed independently of this code, with Python's standard library:
    ///
    /// ```text
    /// import base64, hashlib, hmac, json
    /// b = lambda x: base64.urlsafe_b64encode(x).rstrip(b"=").decode()
    /// h = b(b'{"alg":"HS256","typ":"secevent+jwt"}')
    /// c = {"iss": "https://scim.example.com/scim/v2/acme", "iat": 1458496404,
    ///      "jti": "acme.1", "aud": "https://app.example.com/events",
    ///      "sub_id": {"format": "scim", "uri": "/Users/u1"},
    ///      "events": {"urn:ietf:params:scim:event:prov:delete": {}}}
    /// p = b(json.dumps(c, separators=(",", ":")).encode())
    /// s = b(hmac.new(b"s3cret", (h + "." + p).encode(), hashlib.sha256).digest())
    /// print(h + "." + p + "." + s)
    /// ```
    const VECTOR: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6InNlY2V2ZW50K2p3dCJ9.\
        eyJpc3MiOiJodHRwczovL3NjaW0uZXhhbXBsZS5jb20vc2NpbS92Mi9hY21lIiwiaWF0IjoxNDU4NDk2NDA0LCJqdGkiOiJhY21lLjEiLCJhdWQiOiJodHRwczovL2FwcC5leGFtcGxlLmNvbS9ldmVudHMiLCJzdWJfaWQiOnsiZm9ybWF0Ijoic2NpbSIsInVyaSI6Ii9Vc2Vycy91MSJ9LCJldmVudHMiOnsidXJuOmlldGY6cGFyYW1zOnNjaW06ZXZlbnQ6cHJvdjpkZWxldGUiOnt9fX0.\
        vKDFEO6U-QI5UizEV-XrWAdzxqGSfkRRC-93e1Fd7Ug";

    fn claims() -> Value {
        json!({
            "iss": "https://scim.example.com/scim/v2/acme",
            "iat": 1458496404,
            "jti": "acme.1",
            "aud": "https://app.example.com/events",
            "sub_id": {"format": "scim", "uri": "/Users/u1"},
            "events": {"urn:ietf:params:scim:event:prov:delete": {}},
        })
    }

    #[test]
    fn signs_the_known_vector() {
        assert_eq!(sign_hs256(&claims(), b"s3cret"), VECTOR);
    }

    #[test]
    fn verifies_what_it_signs() {
        let token = sign_hs256(&claims(), b"s3cret");
        assert_eq!(verify_hs256(&token, b"s3cret"), Ok(claims()));
        assert_eq!(verify_hs256(VECTOR, b"s3cret"), Ok(claims()));
        assert_eq!(verify_hs256(&token, b"other"), Err(JwsError::Signature));
    }

    #[test]
    fn refuses_tampering_and_other_algorithms() {
        let token = sign_hs256(&claims(), b"k");
        let (head, rest) = token.split_once('.').unwrap();
        let (_, sig) = rest.split_once('.').unwrap();
        let forged = URL_SAFE_NO_PAD.encode(br#"{"jti":"acme.2"}"#);
        assert_eq!(
            verify_hs256(&format!("{head}.{forged}.{sig}"), b"k"),
            Err(JwsError::Signature)
        );
        let none = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"secevent+jwt"}"#);
        let payload = URL_SAFE_NO_PAD.encode(br#"{}"#);
        assert_eq!(
            verify_hs256(&format!("{none}.{payload}."), b"k"),
            Err(JwsError::Algorithm("none".into()))
        );
        let jwt = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        assert_eq!(
            verify_hs256(&format!("{jwt}.{payload}.{sig}"), b"k"),
            Err(JwsError::Type("JWT".into()))
        );
        assert!(matches!(
            verify_hs256("a.b", b"k"),
            Err(JwsError::Malformed(_))
        ));
        assert!(matches!(
            verify_hs256("a.b.c.d", b"k"),
            Err(JwsError::Malformed(_))
        ));
    }
}
