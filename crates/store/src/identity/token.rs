//! Random bearer secrets (session tokens, CSRF tokens, API keys, invitation links)
//! and the one-way hashes that are all the database ever holds of them.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};

/// A fresh 256-bit secret, URL-safe base64 without padding (43 characters).
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The SHA-256 of a secret: what is stored and looked up.
pub fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// The CSRF token that goes with a session token: derived from it, so server-rendered
/// pages can embed it without the server storing it (only its hash is stored), and no
/// other site can compute it without the HttpOnly cookie.
pub fn csrf_for(session_token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(
        format!("paddock-csrf:{session_token}").as_bytes(),
    ))
}

/// The sign-in form's CSRF token for a pre-session cookie value: the form and the
/// `__Host-` cookie must agree, which another site can neither read nor arrange.
/// Domain-separated from [`csrf_for`], so neither can stand in for the other.
pub fn login_csrf_for(pre_session: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(
        format!("paddock-login-csrf:{pre_session}").as_bytes(),
    ))
}

/// Lower-case hex, the form the `app.token_hash` setting takes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_256_bit_and_never_repeat() {
        let a = random_token();
        let b = random_token();
        assert_eq!(URL_SAFE_NO_PAD.decode(&a).unwrap().len(), 32);
        assert_ne!(a, b);
    }

    #[test]
    fn the_hash_is_sha256_and_hex_is_lower_case() {
        assert_eq!(
            hex(&token_hash("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
